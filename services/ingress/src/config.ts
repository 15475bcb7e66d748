/**
 * The ingress' configuration, read once from the environment. docs/ingress.md lists every
 * variable with its default.
 */
import {
  type CommonConfig,
  type Env,
  EnvReader,
  readCommonConfig,
  readWireVersion,
  type WireVersion,
} from '@hikyaku/core';
import type { ClientLimit, ListenerClientLimits } from './client-limits.ts';
import type { LineEndPolicy } from './line-ends.ts';
import type { LongLinePolicy } from './line-length.ts';

/** relay: port 25 (AUTH or allowedNetworks); submission: 587 (STARTTLS, AUTH required);
 * smtps: 465 (implicit TLS, AUTH required). */
export const LISTENERS = ['relay', 'submission', 'smtps'] as const;
export type ListenerName = (typeof LISTENERS)[number];

export interface IngressConfig extends Omit<CommonConfig, 'pool'> {
  smtpHost: string;
  /** Port of each enabled listener; 0 picks a free port (tests). */
  listeners: Partial<Record<ListenerName, number>>;
  /** Certificate and key files; absent: no TLS (relay listener only, no STARTTLS). */
  tls?: { certFile: string; keyFile: string; reloadIntervalMs: number; minVersion: TlsVersion };
  /** Offer AUTH on unencrypted sessions too: for test setups only. */
  allowInsecureAuth: boolean;
  hostname: string;
  /** Concurrent sessions over all listeners. */
  maxClients: number;
  /** Bytes of message data held at once over every session (inflight.ts). */
  maxInflightBytes: number;
  /** Per-client session and connection-rate limits of each enabled listener. */
  clientLimits: Partial<Record<ListenerName, ListenerClientLimits>>;
  /** A session that sends nothing for this long is closed (421 4.4.2). */
  socketTimeoutMs: number;
  /**
   * The pause before greeting a client of the relay listener that no pool trusts; a
   * command sent during it is answered 421 (greeting.ts). 0: greet everyone at once.
   */
  earlyTalkerPauseMs: number;
  /** A session is closed after this long whatever it does (slow senders). */
  sessionTimeoutMs: number;
  streamReplicas: number;
  /** How long to wait for JetStream to acknowledge before answering 451. */
  storeTimeoutMs: number;
  /**
   * HIKYAKU_WIRE_VERSION: from 2 on, an inline body and its envelope are stored as one
   * message, which only schedulers of this release or later read. Unset: the relay's.
   */
  wireVersion?: WireVersion;
  /** How long a suppression or quota lookup in Redis may take before it is skipped. */
  redisTimeoutMs: number;
  bareLineEnds: LineEndPolicy;
  /** Lines over 998 characters in message data: refused (554 5.6.0) or passed on. */
  longLines: LongLinePolicy;
  authFailures: {
    baseDelayMs: number;
    maxDelayMs: number;
    maxFailures: number;
    lockoutMs: number;
  };
  /** At shutdown, how long transactions in progress may take to finish. */
  drainTimeoutMs: number;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

const DEFAULT_PORTS: Record<ListenerName, number> = { relay: 2525, submission: 2587, smtps: 2465 };

/** Postfix' smtpd_client_connection_count_limit is 50; trusted clients have no own limit. */
const CLIENT_LIMIT_DEFAULTS: ListenerClientLimits = {
  client: { sessions: 50, connectionsPerMinute: 300 },
  trusted: { sessions: 0, connectionsPerMinute: 0 },
};

/**
 * One listener's per-client limits: HIKYAKU_CLIENT_MAX_SESSIONS and the like, each
 * overridden for one listener by the same name with _RELAY, _SUBMISSION or _SMTPS.
 */
function readClientLimits(r: EnvReader, listener: ListenerName): ListenerClientLimits {
  const read = (prefix: string, fallback: ClientLimit): ClientLimit => {
    const value = (name: string, base: number) => {
      const all = r.int(`HIKYAKU_${prefix}_${name}`, base, { min: 0 });
      return r.int(`HIKYAKU_${prefix}_${name}_${listener.toUpperCase()}`, all, { min: 0 });
    };
    return {
      sessions: value('MAX_SESSIONS', fallback.sessions),
      connectionsPerMinute: value('MAX_CONNECTIONS_PER_MINUTE', fallback.connectionsPerMinute),
    };
  };
  return {
    client: read('CLIENT', CLIENT_LIMIT_DEFAULTS.client),
    trusted: read('TRUSTED_CLIENT', CLIENT_LIMIT_DEFAULTS.trusted),
  };
}

export function readIngressConfig(env: Env): Readonly<IngressConfig> {
  const r = new EnvReader({ HIKYAKU_POOL: '*', ...env });
  const { pool: _pool, ...common } = readCommonConfig(r, { httpPort: 9101 });

  const certFile = r.string('HIKYAKU_TLS_CERT_FILE');
  const keyFile = r.string('HIKYAKU_TLS_KEY_FILE');
  if (Boolean(certFile) !== Boolean(keyFile)) {
    r.problem('HIKYAKU_TLS_CERT_FILE and HIKYAKU_TLS_KEY_FILE must be set together');
  }
  const tlsOn = Boolean(certFile && keyFile);
  const allowInsecureAuth = r.bool('HIKYAKU_ALLOW_INSECURE_AUTH', false);

  const names = r.list('HIKYAKU_LISTENERS', tlsOn ? [...LISTENERS] : ['relay']);
  const listeners: Partial<Record<ListenerName, number>> = {};
  const portVariable: Record<ListenerName, string> = {
    relay: 'HIKYAKU_SMTP_PORT',
    submission: 'HIKYAKU_SUBMISSION_PORT',
    smtps: 'HIKYAKU_SMTPS_PORT',
  };
  for (const name of names) {
    if (!(LISTENERS as readonly string[]).includes(name)) {
      r.problem(`HIKYAKU_LISTENERS must name ${LISTENERS.join(', ')}, got "${name}"`);
      continue;
    }
    const listener = name as ListenerName;
    listeners[listener] = r.int(portVariable[listener], DEFAULT_PORTS[listener], {
      min: 0,
      max: 65535,
    });
  }
  if (names.length === 0) r.problem('HIKYAKU_LISTENERS names no listener');
  if (listeners.smtps !== undefined && !tlsOn) {
    r.problem('HIKYAKU_LISTENERS includes smtps, which needs HIKYAKU_TLS_CERT_FILE and _KEY_FILE');
  }
  if (listeners.submission !== undefined && !tlsOn && !allowInsecureAuth) {
    r.problem(
      'HIKYAKU_LISTENERS includes submission, which needs HIKYAKU_TLS_CERT_FILE and _KEY_FILE ' +
        '(or HIKYAKU_ALLOW_INSECURE_AUTH=true in a test setup)',
    );
  }

  const shutdownGraceMs = common.shutdownGraceMs;
  const drainTimeoutMs = r.int(
    'HIKYAKU_DRAIN_TIMEOUT_MS',
    Math.max(0, Math.min(20_000, shutdownGraceMs - 5000)),
    { min: 0 },
  );
  if (drainTimeoutMs >= shutdownGraceMs && shutdownGraceMs > 0) {
    r.problem(
      `HIKYAKU_DRAIN_TIMEOUT_MS (${drainTimeoutMs}) must be shorter than HIKYAKU_SHUTDOWN_GRACE_MS (${shutdownGraceMs})`,
    );
  }

  return r.done({
    ...common,
    smtpHost: r.string('HIKYAKU_SMTP_HOST', '0.0.0.0'),
    listeners,
    ...(certFile && keyFile
      ? {
          tls: {
            certFile,
            keyFile,
            reloadIntervalMs: r.int('HIKYAKU_TLS_RELOAD_INTERVAL_MS', 30_000, { min: 100 }),
            minVersion: r.oneOf('HIKYAKU_TLS_MIN_VERSION', ['TLSv1.2', 'TLSv1.3'], 'TLSv1.2'),
          },
        }
      : {}),
    allowInsecureAuth,
    hostname: r.string('HIKYAKU_HOSTNAME', 'hikyaku.local'),
    maxClients: r.int('HIKYAKU_MAX_CLIENTS', 1000, { min: 1 }),
    maxInflightBytes: r.int('HIKYAKU_MAX_INFLIGHT_BYTES', 64 * 1024 * 1024, {
      min: 1024 * 1024,
    }),
    clientLimits: Object.fromEntries(
      Object.keys(listeners).map((name) => [name, readClientLimits(r, name as ListenerName)]),
    ),
    socketTimeoutMs: r.int('HIKYAKU_SOCKET_TIMEOUT_MS', 60_000, { min: 1000 }),
    earlyTalkerPauseMs: r.int('HIKYAKU_EARLY_TALKER_PAUSE_MS', 100, { min: 0, max: 10_000 }),
    sessionTimeoutMs: r.int('HIKYAKU_SESSION_TIMEOUT_MS', 600_000, { min: 1000 }),
    streamReplicas: r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    storeTimeoutMs: r.int('HIKYAKU_STORE_TIMEOUT_MS', 5000, { min: 100 }),
    wireVersion: readWireVersion(r),
    redisTimeoutMs: r.int('HIKYAKU_REDIS_TIMEOUT_MS', 1000, { min: 10 }),
    bareLineEnds: r.oneOf('HIKYAKU_BARE_LINE_ENDS', ['reject', 'normalize'] as const, 'reject'),
    longLines: r.oneOf('HIKYAKU_LONG_LINES', ['reject', 'accept'] as const, 'reject'),
    authFailures: {
      baseDelayMs: r.int('HIKYAKU_AUTH_FAILURE_DELAY_MS', 500, { min: 0 }),
      maxDelayMs: r.int('HIKYAKU_AUTH_FAILURE_MAX_DELAY_MS', 8000, { min: 0 }),
      maxFailures: r.int('HIKYAKU_AUTH_MAX_FAILURES', 5, { min: 1 }),
      lockoutMs: r.int('HIKYAKU_AUTH_LOCKOUT_MS', 900_000, { min: 1000 }),
    },
    drainTimeoutMs,
  });
}
