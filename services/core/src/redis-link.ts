/**
 * A service's connection to Redis and what it knows of Redis' health. ioredis reconnects by
 * itself; this adds what a relay needs around it: one log line when Redis goes away and one
 * when it is back (not one per reconnect attempt), the `hikyaku_redis_up` gauge, a line for
 * /readyz, and — for services that must not wait on Redis — a way to skip a lookup at once
 * while Redis is known to be unreachable instead of waiting out a timeout per message.
 */
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { METRICS } from './contract/metrics.ts';
import type { Logger } from './log.ts';
import { parseRedisTarget } from './redis-target.ts';

/**
 * `lookups`: a command fails at once while Redis is not connected, and after `timeoutMs`
 * when Redis does not answer; the caller goes on without the answer (the ingress).
 * `work`: a command waits for Redis to be back, however long that takes (the scheduler,
 * whose counters must not be skipped).
 */
export type RedisMode = 'lookups' | 'work';

/** What a caller that may go on without Redis' answer needs to know before asking. */
export interface RedisHealth {
  /**
   * Whether a lookup is worth trying now: connected, and no lookup timed out within the
   * last `cooldownMs` (a server that accepts connections but does not answer).
   */
  available(): boolean;
  /** A lookup failed or timed out: skip lookups for the cooldown. */
  failed(): void;
}

export interface RedisLink extends RedisHealth {
  readonly client: Redis;
  /** One line for /readyz: `redis: up`, or since when and why it is unreachable. */
  describe(): string;
  /** Says QUIT while connected (pending commands finish first), else just disconnects. */
  close(): Promise<void>;
}

export interface RedisLinkOptions {
  /** REDIS_URL: a server, or a master through Sentinel (redis-target.ts). */
  url: string;
  mode: RedisMode;
  log: Logger;
  registry?: Registry;
  /** `lookups` mode: how long a command may wait for its answer. */
  timeoutMs?: number;
  /** How long lookups are skipped after one failed while connected (default 5 s). */
  cooldownMs?: number;
  now?: () => number;
}

const DEFAULT_COOLDOWN_MS = 5000;

// ioredis is loaded by the first connection rather than with the package: the sender never
// talks to Redis, and its ~55 modules would stay resident there for nothing.
const load = createRequire(import.meta.url);
function redisClass(): typeof Redis {
  return (load('ioredis') as typeof import('ioredis')).Redis;
}

export function redisClientOptions(mode: RedisMode, timeoutMs?: number): RedisOptions {
  // Concurrent handlers' commands share one write per event-loop turn.
  const common: RedisOptions = { enableAutoPipelining: true };
  if (mode === 'work') return { ...common, maxRetriesPerRequest: null };
  return {
    ...common,
    maxRetriesPerRequest: 1,
    // Queued commands would each wait out the timeout while Redis is away.
    enableOfflineQueue: false,
    ...(timeoutMs ? { commandTimeout: timeoutMs } : {}),
  };
}

export function connectRedis(options: RedisLinkOptions): RedisLink {
  const { log, mode } = options;
  const now = options.now ?? Date.now;
  const cooldownMs = options.cooldownMs ?? DEFAULT_COOLDOWN_MS;
  const target = parseRedisTarget(options.url);
  const clientOptions = redisClientOptions(mode, options.timeoutMs);
  // Through Sentinel, ioredis asks the sentinels for the master on every (re)connect, so a
  // failover is followed like any lost connection.
  const Redis = redisClass();
  const client =
    target.kind === 'server'
      ? new Redis(target.url, clientOptions)
      : new Redis({
          ...clientOptions,
          sentinels: target.sentinels,
          name: target.name,
          ...(target.password ? { password: target.password } : {}),
          ...(target.db !== undefined ? { db: target.db } : {}),
        });
  let up = false;
  let wasUp = false;
  /** Since when Redis is unreachable (ms since the epoch); the start counts as unreachable. */
  let downSince = now();
  let lastError: string | undefined;
  let suspectUntil = 0;
  let closing = false;

  const markDown = (reason: string): void => {
    lastError = reason;
    if (!up) return;
    up = false;
    downSince = now();
    if (!closing) log.warn({ reason, code: 'HIKYAKU_REDIS_UNREACHABLE' }, 'redis unreachable');
  };
  // Without a listener ioredis prints every failed reconnect attempt to stderr.
  client.on('error', (err: Error) => {
    if (up) markDown(err.message);
    else {
      lastError = err.message;
      log.debug({ err }, 'redis still unreachable');
    }
  });
  client.on('close', () => markDown(lastError ?? 'connection closed'));
  client.on('ready', () => {
    if (wasUp && !up) log.info({ downMs: now() - downSince }, 'redis reachable again');
    up = true;
    wasUp = true;
    suspectUntil = 0;
    lastError = undefined;
  });

  if (options.registry) {
    new Gauge({
      name: METRICS.redisUp,
      help: 'Whether this process is connected to Redis (1) or not (0)',
      registers: [options.registry],
      collect() {
        this.set(up ? 1 : 0);
      },
    });
  }

  return {
    client,
    available: () => up && now() >= suspectUntil,
    failed() {
      if (up) suspectUntil = now() + cooldownMs;
    },
    describe() {
      if (up) return 'redis: up';
      const since = new Date(downSince).toISOString();
      return `redis: unreachable since ${since}${lastError ? ` (${lastError})` : ''}`;
    },
    async close() {
      closing = true;
      if (up) await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}
