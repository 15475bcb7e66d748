/**
 * Everything the ingress keeps about one SMTP session, in one object: made when the
 * connection is accepted, held by the session smtp-server hands to every handler, and
 * dropped with the connection. The modules that look after a part of a session (the time
 * limit in sessions.ts, the per-client counts in client-limits.ts, the transaction in
 * session-handlers.ts) keep it in the fields they declare here, rather than each in a
 * map of its own keyed by the session: a connection then costs one allocation instead of
 * an entry per map, and a command one property read instead of a lookup per map.
 *
 * Every field is set in the constructor so that all sessions share one shape.
 */
import type { CompiledPool, CompiledSubmitter, EnvelopeDsn } from '@hikyaku/core';
import type { SMTPServerSession } from 'smtp-server';
import type { LimitedSession } from './client-limits.ts';
import type { FeedbackTarget } from './feedback-intake.ts';
import type { Reservation } from './inflight.ts';
import type { SessionHandle } from './relay-server.ts';
import type { TrackedSession } from './sessions.ts';
import type { RefusalReason } from './smtp-errors.ts';

/** The client of one transaction, fixed at MAIL FROM. No pool: not allowed to relay. */
export interface Transaction {
  pool?: CompiledPool;
  submitter?: CompiledSubmitter;
  /**
   * RET and ENVID of the accepted MAIL FROM. Kept here rather than read from smtp-server's
   * session envelope, which keeps the values of a MAIL FROM that was refused.
   */
  dsn?: EnvelopeDsn;
  /** A report to one of a pool's feedback addresses (feedback-intake.ts), not mail to relay. */
  feedback?: FeedbackTarget;
  /** The bytes set aside for the message (inflight.ts); given back when it ends. */
  reservation?: Reservation;
}

export class SessionState implements TrackedSession, LimitedSession {
  /**
   * Whether the client is inside some pool's allowedNetworks, decided once when the
   * session opens: the greeting and onConnect both ask.
   */
  trusted: boolean | undefined = undefined;
  /** Admitted and counted in the session metrics: onClose uncounts only these. */
  counted = false;
  /** The transaction since the last accepted MAIL FROM, until it ends. */
  transaction: Transaction | undefined = undefined;
  limitAt = 0;
  cut: NodeJS.Timeout | undefined = undefined;
  ending: RefusalReason | undefined = undefined;
  clientKey: string | undefined = undefined;
  holdsClientSlot = false;

  constructor(
    readonly session: SMTPServerSession,
    readonly handle: SessionHandle,
  ) {}
}

// A symbol, so that no field smtp-server sets on its session can clash with it.
const STATE = Symbol('hikyaku.sessionState');

type WithState = { [STATE]?: SessionState };

/** Gives the session its state; the relay server does this once per connection. */
export function attachState(session: SMTPServerSession, handle: SessionHandle): SessionState {
  const state = new SessionState(session, handle);
  (session as WithState)[STATE] = state;
  return state;
}

/** The session's state, if a relay server made the session. */
export function stateOf(session: SMTPServerSession): SessionState | undefined {
  return (session as WithState)[STATE];
}
