/**
 * SMTP AUTH on one listener: who the client is, if the password is right. The attempt is
 * counted before the password is checked (auth-throttle.ts), so a client sending many
 * attempts at once has at most the limit of them checked; the others are refused with
 * 421 4.7.0 unchecked. Passwords and AUTH tokens are never logged.
 */

import type { Logger } from '@hikyaku/core';
import type { SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { AuthThrottle } from './auth-throttle.ts';
import type { ListenerName } from './config.ts';
import type { IngressMetrics } from './metrics.ts';
import type { RefusalReason, SmtpReplyError } from './smtp-errors.ts';
import type { SubmitterDirectory } from './submitters.ts';

type OnAuth = NonNullable<SMTPServerOptions['onAuth']>;

/** Usernames come from the client: bounded and quoted before they reach a log line. */
function printable(username: string): string {
  return JSON.stringify(username.slice(0, 100));
}

export function authHandler(deps: {
  listener: ListenerName;
  log: Logger;
  metrics: IngressMetrics;
  submitters: SubmitterDirectory;
  throttle: AuthThrottle;
  /** Builds (and counts) the refusal the client gets. */
  refuse: (reason: RefusalReason) => SmtpReplyError;
  /** The session is a submitter's from now on. */
  onAuthenticated: (session: SMTPServerSession) => void;
}): OnAuth {
  const { listener, log, metrics, submitters, throttle, refuse, onAuthenticated } = deps;

  return (auth, session, callback) => {
    const client = session.remoteAddress;
    const username = auth.username ?? '';
    /** The reply and how long to hold it back; the throttle answers even without Redis. */
    async function attempt(): Promise<
      { user: string } | { refusal: RefusalReason; delayMs: number }
    > {
      const admission = await throttle.attempt(client);
      if (!admission.admitted) {
        metrics.auth.inc({ listener, result: 'throttled' });
        log.warn({ client, listener, submitter: printable(username) }, 'auth refused: throttled');
        return { refusal: 'authThrottled', delayMs: 0 };
      }
      // PLAIN may name a second identity to act as; a submitter can only be itself.
      const impersonating =
        auth.method === 'PLAIN' && auth.authzid && auth.authcid && auth.authzid !== auth.authcid;
      const result = impersonating
        ? { ok: false as const, why: 'wrong-password' as const }
        : await submitters.authenticate(username, auth.password ?? '');
      if (result.ok) {
        await throttle.success(client);
        metrics.auth.inc({ listener, result: 'success' });
        log.info(
          { client, listener, submitter: username, pool: result.entry.pool.key },
          'authenticated',
        );
        return { user: username };
      }
      const failure = admission.ifFailed;
      metrics.auth.inc({ listener, result: result.why === 'conflict' ? 'conflict' : 'failure' });
      const fields = {
        client,
        listener,
        submitter: printable(username),
        why: result.why,
        failures: failure.failures,
      };
      if (result.why === 'conflict' || result.why === 'bad-hash') {
        log.error(fields, 'auth refused: the submitter is misconfigured');
      } else {
        log.warn(fields, 'auth failed');
      }
      return { refusal: failure.locked ? 'authThrottled' : 'authFailed', delayMs: failure.delayMs };
    }

    attempt().then(
      (answer) => {
        if ('user' in answer) {
          onAuthenticated(session);
          callback(null, { user: answer.user });
          return;
        }
        const timer = setTimeout(() => callback(refuse(answer.refusal)), answer.delayMs);
        timer.unref();
      },
      (err: unknown) => {
        // A bug: the client gets a temporary failure, the log the bug.
        log.error({ err, listener }, 'smtp handler failed');
        callback(refuse('internalError'));
      },
    );
  };
}
