/**
 * The open SMTP sessions of all listeners: the concurrency limit, the total session time
 * limit and the end of sessions at shutdown. A session is "in a transaction" from an
 * accepted MAIL FROM until the reply to its DATA (or RSET); the relay never cuts a session
 * there when it can wait for the transaction to end, so a client is not made to resend a
 * message it has nearly handed over.
 *
 * Every session has the same time limit, so they reach it in the order they opened: one
 * timer, armed for the oldest session's limit, serves them all, instead of a timer set and
 * cleared per connection (a client opening one connection per message would pay that per
 * message).
 */
import type { SMTPServerSession } from 'smtp-server';
import type { SessionHandle } from './relay-server.ts';
import { REPLIES, type RefusalReason } from './smtp-errors.ts';

/**
 * What the tracker keeps on a session (session-state.ts): the session itself, to see
 * whether it is in a transaction, the handle to end it, and its time limit.
 */
export interface TrackedSession {
  readonly session: Pick<SMTPServerSession, 'envelope'>;
  readonly handle: SessionHandle;
  /** When its time limit is reached (performance.now()). */
  limitAt: number;
  /** Set once the time limit is reached: the session ends at most a grace later. */
  cut: NodeJS.Timeout | undefined;
  /** Set when the session must end once its transaction does. */
  ending: RefusalReason | undefined;
}

export interface SessionTracker {
  readonly active: number;
  readonly closing: boolean;
  /** Registers a session; returns the refusal when it is one too many. */
  open(entry: TrackedSession): RefusalReason | undefined;
  close(entry: TrackedSession): void;
  /** Why the session is due to end, if it is: a new transaction gets this as a 421. */
  ending(entry: TrackedSession): RefusalReason | undefined;
  /** Called once the reply to a DATA has been sent: ends the session if it is due. */
  transactionEnded(entry: TrackedSession): void;
  /**
   * Ends every session: now for those between transactions, at the end of the
   * transaction for the others, and after drainMs for whatever is left.
   */
  shutdown(drainMs: number): Promise<void>;
}

function inTransaction(entry: TrackedSession): boolean {
  return Boolean(entry.session.envelope?.mailFrom);
}

export function createSessionTracker(options: {
  maxSessions: number;
  sessionTimeoutMs: number;
  /** How long a transaction may still run after the session time limit. */
  transactionGraceMs: number;
}): SessionTracker {
  /** In the order the sessions opened, hence of their time limits. */
  const tracked = new Set<TrackedSession>();
  let closing = false;
  let allClosed: (() => void) | undefined;
  /** Armed for the limit of the oldest session that has not reached it. */
  let limitTimer: NodeJS.Timeout | undefined;

  function end(entry: TrackedSession, reason: RefusalReason): void {
    if (!tracked.has(entry)) return;
    // A 421 closes the connection; onClose then forgets the session.
    entry.handle.send(REPLIES[reason].code, REPLIES[reason].text);
  }

  function endWhenIdle(entry: TrackedSession, reason: RefusalReason): void {
    if (!tracked.has(entry)) return;
    if (!inTransaction(entry)) end(entry, reason);
    else entry.ending ??= reason;
  }

  function armLimit(): void {
    if (limitTimer) return;
    for (const entry of tracked) {
      if (entry.cut) continue;
      limitTimer = setTimeout(limitReached, Math.max(0, entry.limitAt - performance.now()));
      limitTimer.unref();
      return;
    }
  }

  function limitReached(): void {
    limitTimer = undefined;
    const now = performance.now();
    for (const entry of tracked) {
      if (entry.cut) continue;
      if (entry.limitAt > now) break;
      endWhenIdle(entry, 'sessionTimeout');
      entry.cut = setTimeout(() => end(entry, 'sessionTimeout'), options.transactionGraceMs);
      entry.cut.unref();
    }
    armLimit();
  }

  return {
    get active() {
      return tracked.size;
    },
    get closing() {
      return closing;
    },

    open(entry) {
      if (closing) return 'shuttingDown';
      if (tracked.size >= options.maxSessions) return 'tooManySessions';
      entry.limitAt = performance.now() + options.sessionTimeoutMs;
      entry.cut = undefined;
      entry.ending = undefined;
      tracked.add(entry);
      armLimit();
      return undefined;
    },

    close(entry) {
      if (!tracked.delete(entry)) return;
      clearTimeout(entry.cut);
      entry.cut = undefined;
      if (tracked.size === 0) {
        clearTimeout(limitTimer);
        limitTimer = undefined;
      }
      if (closing && tracked.size === 0) allClosed?.();
    },

    ending(entry) {
      if (closing) return 'shuttingDown';
      return tracked.has(entry) ? entry.ending : undefined;
    },

    transactionEnded(entry) {
      if (!entry.ending || !tracked.has(entry)) return;
      const reason = entry.ending;
      // After smtp-server has written the reply to DATA, which it does when the handler
      // calls back; the 421 must not overtake it.
      setImmediate(() => end(entry, reason));
    },

    async shutdown(drainMs) {
      closing = true;
      if (tracked.size === 0) return;
      const done = new Promise<void>((resolve) => {
        allClosed = resolve;
      });
      for (const entry of [...tracked]) endWhenIdle(entry, 'shuttingDown');
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      });
      await Promise.race([done, deadline]);
      clearTimeout(timer);
      for (const entry of [...tracked]) end(entry, 'shuttingDown');
    },
  };
}
