/**
 * What the ingress decides at each step of an SMTP session, for one listener: who may open
 * a session and use AUTH, who the client is (submitter or allowed network), whether the
 * envelope is acceptable, and what happens to the message. Every refusal is a reason of
 * smtp-errors.ts and is counted under that reason.
 */

import type { SuppressionList } from '@hikyaku/core';
import {
  type CompiledPool,
  type CompiledSubmitter,
  type EnvelopeDsn,
  HikyakuError,
  type Logger,
  type PoolDirectory,
  withTimeout,
} from '@hikyaku/core';
import { nuid } from '@nats-io/transport-node';
import type { SMTPServerOptions, SMTPServerRecipientDSN, SMTPServerSession } from 'smtp-server';
import { checkAddress } from './address.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import type { IngressConfig, ListenerName } from './config.ts';
import { mailDsn, recipientDsn, transactionDsn } from './dsn-params.ts';
import { addedHeaders } from './headers.ts';
import { readMessage } from './message-reader.ts';
import type { IngressMetrics } from './metrics.ts';
import type { createPoolSelector } from './pool-select.ts';
import type { SubmitterQuota } from './quota.ts';
import type { SessionHandle } from './relay-server.ts';
import type { SessionTracker } from './sessions.ts';
import { type RefusalReason, SmtpReplyError } from './smtp-errors.ts';
import type { MessageStore } from './store.ts';
import type { SubmitterDirectory } from './submitters.ts';

export interface IngressContext {
  config: IngressConfig;
  log: Logger;
  metrics: IngressMetrics;
  pools: PoolDirectory;
  selector: ReturnType<typeof createPoolSelector>;
  submitters: SubmitterDirectory;
  throttle: AuthThrottle;
  quota: SubmitterQuota;
  suppressions: SuppressionList;
  store: MessageStore;
  tracker: SessionTracker;
  tlsAvailable: boolean;
  now: () => number;
}

type Handlers = Required<
  Pick<
    SMTPServerOptions,
    'onConnect' | 'onSecure' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData' | 'onClose'
  >
>;

/** The client of one transaction, fixed at MAIL FROM. No pool: not allowed to relay. */
interface Transaction {
  pool?: CompiledPool;
  submitter?: CompiledSubmitter;
  /**
   * RET and ENVID of the accepted MAIL FROM. Kept here rather than read from smtp-server's
   * session envelope, which keeps the values of a MAIL FROM that was refused.
   */
  dsn?: EnvelopeDsn;
}

class LookupTimeoutError extends HikyakuError {
  constructor(ms: number) {
    super('HIKYAKU_LOOKUP_TIMEOUT', `no answer within ${ms} ms`);
    this.name = 'LookupTimeoutError';
  }
}

/** Usernames come from the client: bounded and quoted before they reach a log line. */
function printable(username: string): string {
  return JSON.stringify(username.slice(0, 100));
}

// Commands smtp-server knows that a relay has no use for.
const ALWAYS_OFF = ['WIZ', 'SHELL', 'KILL', 'XCLIENT', 'XFORWARD'];

// The parameters of the extensions the relay advertises (smtp-server checks their values),
// and AUTH=, which clients add after authenticating. REQUIRETLS is not offered, so its
// parameter would be a promise the relay cannot keep.
const MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH', 'RET', 'ENVID']);
const RCPT_PARAMETERS = new Set(['NOTIFY', 'ORCPT']);

function unsupported(args: Record<string, string | true> | false, allowed: Set<string>) {
  return Object.keys(args || {}).find((key) => !allowed.has(key));
}

export function sessionHandlers(
  ctx: IngressContext,
  listener: ListenerName,
  handleOf: (session: SMTPServerSession) => SessionHandle | undefined,
): Handlers {
  const { config, log, metrics, tracker, now } = ctx;
  const transactions = new WeakMap<SMTPServerSession, Transaction>();
  const counted = new WeakSet<SMTPServerSession>();

  function refuse(reason: RefusalReason, pool?: CompiledPool, detail?: string): SmtpReplyError {
    metrics.refused.inc({ pool: pool?.key ?? '', listener, reason });
    return new SmtpReplyError(reason, detail);
  }

  /** AUTH is offered on encrypted sessions only, unless a test setup allows otherwise. */
  function disabledCommands(session: SMTPServerSession): string[] {
    const off = [...ALWAYS_OFF];
    if (!ctx.tlsAvailable || listener === 'smtps') off.push('STARTTLS');
    if (!session.secure && !config.allowInsecureAuth) off.push('AUTH');
    return off;
  }

  /** A failed lookup in Redis skips the check: the scheduler checks suppressions again. */
  async function lookup<T>(check: 'suppression' | 'quota', run: () => Promise<T>, fallback: T) {
    try {
      const ms = config.redisTimeoutMs;
      return await withTimeout(run(), ms, () => new LookupTimeoutError(ms));
    } catch (err) {
      metrics.policyErrors.inc({ check });
      log.warn({ err, check }, 'policy lookup failed; skipping the check');
      return fallback;
    }
  }

  async function mailFrom(
    address: { address: string; args: Record<string, string | true> | false },
    session: SMTPServerSession,
  ): Promise<SmtpReplyError | undefined> {
    const ending = tracker.ending(session);
    if (ending) return refuse(ending);
    transactions.delete(session);
    let tx: Transaction;
    if (session.user) {
      const entry = ctx.submitters.find(String(session.user));
      if (!entry) return refuse('authRequired', undefined, 'submitter no longer configured');
      tx = { pool: entry.pool, submitter: entry.submitter };
    } else if (listener === 'relay') {
      const pool = ctx.selector.byNetwork(ctx.pools.all(), session.remoteAddress);
      tx = pool ? { pool } : {};
    } else {
      return refuse('authRequired');
    }
    const { pool, submitter } = tx;
    const parameter = unsupported(address.args, MAIL_PARAMETERS);
    if (parameter) return refuse('badParameter', pool, parameter.slice(0, 20));
    const dsn = mailDsn(address.args);
    if (!dsn.ok) return refuse('badDsnParameter', pool, dsn.problem);
    if (dsn.value) tx.dsn = dsn.value;
    const checked = checkAddress(address.address, {
      role: 'sender',
      smtputf8: Boolean(session.envelope.smtpUtf8),
    });
    if (!checked.ok) {
      return refuse(checked.needsSmtputf8 ? 'needsSmtputf8' : 'badSender', pool, checked.problem);
    }
    const declared = address.args ? Number(address.args.SIZE) : Number.NaN;
    if (pool && declared > pool.maxMessageSize) return refuse('messageTooBig', pool);
    if (
      submitter &&
      submitter.allowedSenderDomains.length > 0 &&
      !submitter.allowedSenderDomains.includes(checked.domain)
    ) {
      return refuse('senderNotAllowed', pool);
    }
    if (pool && submitter?.messagesPerMinute) {
      const limit = submitter.messagesPerMinute;
      const within = await lookup(
        'quota',
        () => ctx.quota.take(pool.key, submitter.username, limit, now()),
        true,
      );
      if (!within) return refuse('rateLimited', pool);
    }
    address.address = checked.address;
    transactions.set(session, tx);
    return undefined;
  }

  async function rcptTo(
    address: {
      address: string;
      args: Record<string, string | true> | false;
      dsn?: SMTPServerRecipientDSN | undefined;
    },
    session: SMTPServerSession,
  ): Promise<SmtpReplyError | undefined> {
    const pool = transactions.get(session)?.pool;
    if (!pool) return refuse('relayDenied');
    const parameter = unsupported(address.args, RCPT_PARAMETERS);
    if (parameter) return refuse('badParameter', pool, parameter.slice(0, 20));
    const dsn = recipientDsn(address.dsn);
    if (!dsn.ok) return refuse('badDsnParameter', pool, dsn.problem);
    const checked = checkAddress(address.address, {
      role: 'recipient',
      smtputf8: Boolean(session.envelope.smtpUtf8),
    });
    if (!checked.ok) {
      return refuse(
        checked.needsSmtputf8 ? 'needsSmtputf8' : 'badRecipient',
        pool,
        checked.problem,
      );
    }
    if (session.envelope.rcptTo.length >= pool.maxRecipients) {
      return refuse('tooManyRecipients', pool);
    }
    const suppressed = await lookup(
      'suppression',
      () => ctx.suppressions.lookup(pool.key, [checked.address]),
      new Map(),
    );
    const entry = suppressed.values().next().value;
    if (entry) return refuse('suppressed', pool, entry.reason);
    address.address = checked.address;
    return undefined;
  }

  async function data(
    stream: Parameters<Handlers['onData']>[0],
    session: SMTPServerSession,
  ): Promise<{ error?: SmtpReplyError; reply?: string } | undefined> {
    const tx = transactions.get(session);
    const pool = tx?.pool;
    if (!pool) {
      stream.resume();
      return { error: refuse('relayDenied') };
    }
    const outcome = await readMessage(stream, {
      maxBytes: pool.maxMessageSize,
      lineEnds: config.bareLineEnds,
    });
    const started = now();
    if (outcome.kind === 'aborted') return undefined;
    if (outcome.kind === 'refused') return { error: refuse(outcome.violation, pool) };
    if (outcome.kind === 'tooBig') return { error: refuse('messageTooBig', pool) };
    if (!ctx.store.available()) return { error: refuse('storeUnavailable', pool) };
    const id = nuid.next();
    const rcpts = session.envelope.rcptTo.map((r) => r.address);
    const tls = session.tlsOptions
      ? { version: session.tlsOptions.version, cipher: session.tlsOptions.name }
      : undefined;
    const headers = addedHeaders(outcome.raw, {
      clientHelo: session.hostNameAppearsAs,
      clientAddress: session.remoteAddress,
      hostname: config.hostname,
      queueId: id,
      ...(session.secure && tls ? { tls } : {}),
      authenticated: Boolean(session.user),
      rcpts,
      now: new Date(now()),
    });
    try {
      await ctx.store.store(
        {
          id,
          pool: pool.key,
          receivedAt: now(),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcpts,
          clientAddress: session.remoteAddress,
          ...(tx.submitter ? { submitter: tx.submitter.username } : {}),
          ...transactionDsn(tx.dsn, session.envelope.rcptTo),
        },
        Buffer.concat([headers, outcome.raw]),
      );
    } catch (err) {
      log.warn({ err, id, pool: pool.key }, 'could not store message; answering 451');
      return { error: refuse('storeUnavailable', pool) };
    }
    metrics.accepted.inc({ pool: pool.key, listener });
    metrics.size.observe({ pool: pool.key }, outcome.raw.length);
    metrics.latency.observe({ pool: pool.key, listener }, (now() - started) / 1000);
    return { reply: `2.0.0 Ok: queued as ${id}` };
  }

  /** A handler that throws is a bug: the client gets a temporary failure, the log the bug. */
  function settle<T>(
    work: Promise<T>,
    reply: (value: T) => void,
    fail: (err: SmtpReplyError) => void,
  ) {
    work.then(reply, (err: unknown) => {
      log.error({ err, listener }, 'smtp handler failed');
      fail(refuse('internalError'));
    });
  }

  return {
    onConnect(session, callback) {
      const handle = handleOf(session);
      const refusal = handle ? tracker.open(session, handle) : 'shuttingDown';
      if (refusal) {
        callback(refuse(refusal));
        return;
      }
      counted.add(session);
      session.disabledCommands = disabledCommands(session);
      metrics.sessions.inc({ listener });
      metrics.active.inc({ listener });
      callback();
    },

    onSecure(_socket, session, callback) {
      metrics.tlsSessions.inc({ listener });
      session.disabledCommands = disabledCommands(session);
      callback();
    },

    onAuth(auth, session, callback) {
      const client = session.remoteAddress;
      const username = auth.username ?? '';
      /** The reply and how long to hold it back; the throttle answers even without Redis. */
      async function attempt(): Promise<
        { user: string } | { refusal: RefusalReason; delayMs: number }
      > {
        if (await ctx.throttle.isLocked(client)) {
          metrics.auth.inc({ listener, result: 'throttled' });
          log.warn({ client, listener, submitter: printable(username) }, 'auth refused: throttled');
          return { refusal: 'authThrottled', delayMs: 0 };
        }
        // PLAIN may name a second identity to act as; a submitter can only be itself.
        const impersonating =
          auth.method === 'PLAIN' && auth.authzid && auth.authcid && auth.authzid !== auth.authcid;
        const result = impersonating
          ? { ok: false as const, why: 'wrong-password' as const }
          : await ctx.submitters.authenticate(username, auth.password ?? '');
        if (result.ok) {
          await ctx.throttle.success(client);
          metrics.auth.inc({ listener, result: 'success' });
          log.info(
            { client, listener, submitter: username, pool: result.entry.pool.key },
            'authenticated',
          );
          return { user: username };
        }
        const failure = await ctx.throttle.failure(client);
        metrics.auth.inc({
          listener,
          result: result.why === 'conflict' ? 'conflict' : 'failure',
        });
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
        return {
          refusal: failure.locked ? 'authThrottled' : 'authFailed',
          delayMs: failure.delayMs,
        };
      }
      settle(
        attempt(),
        (answer) => {
          if ('user' in answer) {
            callback(null, { user: answer.user });
            return;
          }
          const timer = setTimeout(() => callback(refuse(answer.refusal)), answer.delayMs);
          timer.unref();
        },
        callback,
      );
    },

    onMailFrom(address, session, callback) {
      settle(mailFrom(address, session), callback, callback);
    },

    onRcptTo(address, session, callback) {
      settle(rcptTo(address, session), callback, callback);
    },

    onData(stream, session, callback) {
      const done = (result: { error?: SmtpReplyError; reply?: string } | undefined): void => {
        if (!result) return;
        if (result.error) callback(result.error);
        else callback(null, result.reply);
        tracker.transactionEnded(session);
      };
      settle(data(stream, session), done, (error) => done({ error }));
    },

    onClose(session) {
      transactions.delete(session);
      if (!counted.has(session)) return;
      counted.delete(session);
      metrics.active.dec({ listener });
      tracker.close(session);
    },
  };
}
