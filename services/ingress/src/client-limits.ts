/**
 * Per-client limits of one ingress replica, per listener: how many sessions one client may
 * hold at once and how many connections it may open per minute, so that one address
 * cannot take the sessions every other client needs (HIKYAKU_MAX_CLIENTS is shared by all).
 * A client is counted as its address, or its /64 for IPv6 (`throttleKey`).
 *
 * - A session counts against its client until it authenticates: an authenticated session
 *   is bounded by the shared limit only, and its client gets the trusted limits for the
 *   rest of its rate window (a submitter opening one connection per message is not
 *   refused for its rate).
 * - Clients inside a pool's `allowedNetworks` get the trusted limits, which by default
 *   are none (Postfix exempts $mynetworks the same way).
 * - A connection over a limit is refused with 421 4.7.0. Every connection counts towards
 *   the rate, refused ones too: a client retrying in a tight loop stays refused.
 *
 * The rate is counted in a fixed window per client that starts with its first connection
 * (as Postfix' anvil does), kept in memory, bounded in the number of clients remembered.
 */
import { throttleKey } from './auth-throttle.ts';
import type { ListenerName } from './config.ts';
import type { RefusalReason } from './smtp-errors.ts';

/** 0: no limit. */
export interface ClientLimit {
  sessions: number;
  connectionsPerMinute: number;
}

export interface ListenerClientLimits {
  client: ClientLimit;
  /** For clients inside a pool's allowedNetworks, or authenticated within the minute. */
  trusted: ClientLimit;
}

/** What the limits keep on a session (session-state.ts). */
export interface LimitedSession {
  /** Its listener and client unit, once a limited listener opened it. */
  clientKey: string | undefined;
  /** Whether it counts against its client's sessions (admitted, not authenticated). */
  holdsClientSlot: boolean;
}

export interface ClientLimits {
  /** A new connection: the refusal, or undefined when it is admitted (and counted). */
  open(
    session: LimitedSession,
    connection: { listener: ListenerName; address: string; trusted: boolean },
  ): RefusalReason | undefined;
  /** The session authenticated: it no longer counts, and its client is trusted a while. */
  authenticated(session: LimitedSession): void;
  /** The session ended (admitted or not). */
  close(session: LimitedSession): void;
}

const MINUTE_MS = 60_000;

interface Window {
  start: number;
  connections: number;
  /** Authenticated in this window: the trusted limits apply. */
  authenticated: boolean;
}

export function createClientLimits(options: {
  limits: Partial<Record<ListenerName, ListenerClientLimits>>;
  now: () => number;
  /** Bound on the clients remembered per listener; the oldest windows go first. */
  maxClients?: number;
}): ClientLimits {
  const maxClients = options.maxClients ?? 100_000;
  /** Per listener, client unit: its sessions not yet authenticated. */
  const sessions = new Map<string, number>();
  /** Per listener, client unit: the current rate window, oldest first. */
  const windows = new Map<string, Window>();

  function windowOf(key: string, now: number): Window {
    const current = windows.get(key);
    if (current && now - current.start < MINUTE_MS) return current;
    windows.delete(key);
    const fresh: Window = { start: now, connections: 0, authenticated: false };
    windows.set(key, fresh);
    // Windows are inserted when they start, so the first ones are the oldest.
    for (const [oldKey, old] of windows) {
      if (windows.size <= maxClients && now - old.start < MINUTE_MS) break;
      windows.delete(oldKey);
    }
    return fresh;
  }

  function release(session: LimitedSession): void {
    const key = session.clientKey;
    if (!session.holdsClientSlot || key === undefined) return;
    session.holdsClientSlot = false;
    const left = (sessions.get(key) ?? 1) - 1;
    if (left > 0) sessions.set(key, left);
    else sessions.delete(key);
  }

  return {
    open(session, { listener, address, trusted }) {
      const limits = options.limits[listener];
      if (!limits) return undefined;
      const key = `${listener} ${throttleKey(address)}`;
      session.clientKey = key;
      const window = windowOf(key, options.now());
      window.connections++;
      const limit = trusted || window.authenticated ? limits.trusted : limits.client;
      if (limit.connectionsPerMinute > 0 && window.connections > limit.connectionsPerMinute) {
        return 'clientRateLimit';
      }
      const held = sessions.get(key) ?? 0;
      if (limit.sessions > 0 && held >= limit.sessions) return 'clientSessionLimit';
      sessions.set(key, held + 1);
      session.holdsClientSlot = true;
      return undefined;
    },

    authenticated(session) {
      const key = session.clientKey;
      if (key === undefined) return;
      release(session);
      const window = windows.get(key);
      if (window) window.authenticated = true;
    },

    close(session) {
      release(session);
      session.clientKey = undefined;
    },
  };
}
