/**
 * What the ingress decides at each step of an SMTP session, for one listener: who may open
 * a session and use AUTH, who the client is (submitter or allowed network), whether the
 * envelope is acceptable, and what happens to the message. Every refusal is a reason of
 * smtp-errors.ts and is counted under that reason.
 */

import type { SuppressionList } from '@hikyaku/core';
import {
  type CompiledPool,
  HikyakuError,
  type Logger,
  type PoolDirectory,
  type RedisHealth,
  withTimeout,
} from '@hikyaku/core';
import type { SMTPServerOptions, SMTPServerRecipientDSN, SMTPServerSession } from 'smtp-server';
import { acceptMessage } from './accept-message.ts';
import { checkAddress } from './address.ts';
import { authHandler } from './auth-handler.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import type { ClientLimits } from './client-limits.ts';
import { parameterWithControls } from './command-parameters.ts';
import type { IngressConfig, ListenerName } from './config.ts';
import { mailDsn, recipientDsn } from './dsn-params.ts';
import type { FeedbackIntake } from './feedback-intake.ts';
import { feedbackSteps } from './feedback-session.ts';
import { greetingPause } from './greeting.ts';
import { acceptableHelo } from './helo.ts';
import type { InflightBudget } from './inflight.ts';
import { readMessage } from './message-reader.ts';
import type { IngressMetrics } from './metrics.ts';
import type { createPoolSelector } from './pool-select.ts';
import type { SubmitterQuota } from './quota.ts';
import type { ConnectionHooks } from './relay-server.ts';
import { type SessionState, stateOf, type Transaction } from './session-state.ts';
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
  redis: RedisHealth;
  store: MessageStore;
  feedback: FeedbackIntake;
  tracker: SessionTracker;
  clientLimits: ClientLimits;
  inflight: InflightBudget;
  tlsAvailable: boolean;
  now: () => number;
  /** The date of the added header fields, for a time of now() (headers.ts dateLine). */
  dateLine: (ms: number) => string;
}

type Handlers = Required<
  Pick<
    SMTPServerOptions,
    'onConnect' | 'onSecure' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData' | 'onClose'
  >
> &
  ConnectionHooks;

class LookupTimeoutError extends HikyakuError {
  constructor(ms: number) {
    super('HIKYAKU_LOOKUP_TIMEOUT', `no answer within ${ms} ms`);
    this.name = 'LookupTimeoutError';
  }
}

// Commands smtp-server knows that a relay has no use for.
const ALWAYS_OFF = ['WIZ', 'SHELL', 'KILL', 'XCLIENT', 'XFORWARD'];

// The parameters of the extensions the relay advertises (smtp-server checks their values),
// and AUTH=, which clients add after authenticating. REQUIRETLS is not offered, so its
// parameter would be a promise the relay cannot keep.
const MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH', 'RET', 'ENVID']);
const RCPT_PARAMETERS = new Set(['NOTIFY', 'ORCPT']);

/**
 * The commands a listener turns off for a plain or an encrypted session: AUTH is offered
 * on encrypted sessions only, unless a test setup allows otherwise. The plain session's
 * list is the server's own disabledCommands option, which smtp-server matches with one
 * lookup; a list set on a session it normalises entry by entry on every command, so only
 * encrypted sessions get one (onSecure). Names are upper case, as smtp-server compares.
 */
export function disabledCommands(options: {
  listener: ListenerName;
  secure: boolean;
  tlsAvailable: boolean;
  allowInsecureAuth: boolean;
}): string[] {
  const off = [...ALWAYS_OFF];
  if (!options.tlsAvailable || options.listener === 'smtps') off.push('STARTTLS');
  if (!options.secure && !options.allowInsecureAuth) off.push('AUTH');
  return off;
}

function unsupported(args: Record<string, string | true> | false, allowed: Set<string>) {
  return Object.keys(args || {}).find((key) => !allowed.has(key));
}

export function sessionHandlers(ctx: IngressContext, listener: ListenerName): Handlers {
  const { config, log, metrics, tracker, now } = ctx;

  /** Forgets the session's transaction and gives back the bytes it held. */
  function endTransaction(state: SessionState): void {
    state.transaction?.reservation?.release();
    state.transaction = undefined;
  }

  function refuse(reason: RefusalReason, pool?: CompiledPool, detail?: string): SmtpReplyError {
    metrics.refused.inc({ pool: pool?.key ?? '', listener, reason });
    return new SmtpReplyError(reason, detail);
  }

  /** What a session encrypted by STARTTLS may no longer use (smtps starts with it). */
  const disabledWhenSecure = disabledCommands({
    listener,
    secure: true,
    tlsAvailable: ctx.tlsAvailable,
    allowInsecureAuth: config.allowInsecureAuth,
  });

  /**
   * A failed lookup in Redis skips the check: the scheduler checks suppressions again. While
   * Redis is known to be unreachable the check is skipped at once, so mail is accepted at
   * full speed rather than one lookup timeout per message.
   */
  async function lookup<T>(check: 'suppression' | 'quota', run: () => Promise<T>, fallback: T) {
    if (!ctx.redis.available()) {
      metrics.policyErrors.inc({ check });
      return fallback;
    }
    try {
      const ms = config.redisTimeoutMs;
      return await withTimeout(run(), ms, () => new LookupTimeoutError(ms));
    } catch (err) {
      ctx.redis.failed();
      metrics.policyErrors.inc({ check });
      log.warn({ err, check }, 'policy lookup failed; skipping the check');
      return fallback;
    }
  }

  const feedback = feedbackSteps({ ctx, listener, refuse, lookup });

  async function mailFrom(
    address: { address: string; args: Record<string, string | true> | false },
    session: SMTPServerSession,
  ): Promise<SmtpReplyError | undefined> {
    const state = stateOf(session);
    if (!state) return refuse('internalError');
    const ending = tracker.ending(state);
    if (ending) return refuse(ending);
    endTransaction(state);
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
    // JetStream said a moment ago it has no room: the data would only be refused (store.ts).
    if (pool && ctx.store.full()) return refuse('storeFull', pool);
    if (pool) {
      // The message is held from its first byte: it must fit in what is left (inflight.ts).
      const reservation = ctx.inflight.reserve();
      if (!ctx.inflight.admits() || (declared > 0 && !reservation.declare(declared))) {
        return refuse('insufficientStorage', pool);
      }
      tx.reservation = reservation;
    }
    if (pool && submitter?.messagesPerMinute) {
      const limit = submitter.messagesPerMinute;
      const within = await lookup(
        'quota',
        () => ctx.quota.take(pool.key, submitter.username, limit, now()),
        true,
      );
      if (!within) {
        tx.reservation?.release();
        return refuse('rateLimited', pool);
      }
    }
    address.address = checked.address;
    state.transaction = tx;
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
    const tx = stateOf(session)?.transaction;
    if (tx && listener === 'relay') {
      const handled = await feedback.recipient(tx, address, session);
      if (handled) return handled.error;
    }
    const pool = tx?.pool;
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
    const tx = stateOf(session)?.transaction;
    if (tx?.feedback) return feedback.data(stream, session, tx.feedback);
    const pool = tx?.pool;
    if (!pool) {
      stream.resume();
      return { error: refuse('relayDenied') };
    }
    const reservation = tx.reservation ?? ctx.inflight.reserve();
    // Once the message goes to the store, the store gives the bytes back (accept-message.ts).
    let handedOver = false;
    try {
      const outcome = await readMessage(stream, {
        maxBytes: pool.maxMessageSize,
        lineEnds: config.bareLineEnds,
        longLines: config.longLines,
        reservation,
      });
      if (outcome.kind === 'aborted') return undefined;
      if (outcome.kind === 'refused') return { error: refuse(outcome.violation, pool) };
      if (outcome.kind === 'tooBig') return { error: refuse('messageTooBig', pool) };
      if (outcome.kind === 'overloaded') return { error: refuse('insufficientStorage', pool) };
      handedOver = true;
      tx.reservation = undefined;
      return await acceptMessage(ctx, listener, refuse, {
        reservation,
        session,
        pool,
        submitter: tx.submitter,
        dsn: tx.dsn,
        message: outcome,
      });
    } finally {
      if (!handedOver) reservation.release();
    }
  }

  /** Whether the session's client is inside some pool's allowedNetworks (decided once). */
  function trustedClient(state: SessionState | undefined, address: string): boolean {
    if (state?.trusted !== undefined) return state.trusted;
    const trusted = ctx.selector.byNetwork(ctx.pools.all(), address) !== undefined;
    if (state) state.trusted = trusted;
    return trusted;
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
    greetingPauseMs(session, address) {
      return greetingPause({
        listener,
        trusted: trustedClient(stateOf(session), address),
        earlyTalkerPauseMs: ctx.config.earlyTalkerPauseMs,
      });
    },

    onConnect(session, callback) {
      const state = stateOf(session);
      if (!state) {
        callback(refuse('shuttingDown'));
        return;
      }
      const trusted = trustedClient(state, session.remoteAddress);
      const refusal =
        tracker.open(state) ??
        ctx.clientLimits.open(state, {
          listener,
          address: session.remoteAddress,
          trusted,
        });
      if (refusal) {
        tracker.close(state);
        ctx.clientLimits.close(state);
        callback(refuse(refusal));
        return;
      }
      state.counted = true;
      metrics.sessions.inc({ listener });
      metrics.active.inc({ listener });
      callback();
    },

    onHelo(name) {
      return acceptableHelo(name) ? undefined : refuse('badHelo');
    },

    onAddressCommand(line) {
      const parameter = parameterWithControls(line);
      if (!parameter) return undefined;
      const dsn = parameter === 'ENVID' || parameter === 'ORCPT';
      return refuse(
        dsn ? 'badDsnParameter' : 'badParameterValue',
        undefined,
        `${parameter} contains control characters`,
      );
    },

    onNoopIdle() {
      return refuse('idleTimeout');
    },

    onSecure(_socket, session, callback) {
      metrics.tlsSessions.inc({ listener });
      session.disabledCommands = disabledWhenSecure;
      callback();
    },

    onAuth: authHandler({
      listener,
      log,
      metrics,
      submitters: ctx.submitters,
      throttle: ctx.throttle,
      refuse: (reason) => refuse(reason),
      onAuthenticated: (session) => {
        const state = stateOf(session);
        if (state) ctx.clientLimits.authenticated(state);
      },
    }),

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
        const state = stateOf(session);
        if (state) tracker.transactionEnded(state);
      };
      settle(data(stream, session), done, (error) => done({ error }));
    },

    onClose(session) {
      const state = stateOf(session);
      if (!state) return;
      endTransaction(state);
      if (!state.counted) return;
      state.counted = false;
      metrics.active.dec({ listener });
      tracker.close(state);
      ctx.clientLimits.close(state);
    },
  };
}
