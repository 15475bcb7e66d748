/**
 * `hikyaku shaping`: where each IP of a pool stands, read from the same Redis state and
 * with the same functions as the RelayPool status rows and the scheduler's gauges
 * (core's readIpStatus): the warm-up day, today's cap, what was sent today and what waits
 * for tomorrow, and the destinations that take less than declared, at the rate and with
 * the connections adaptive shaping learned, and why.
 *
 *   hikyaku shaping --nats URL --redis URL --pool POOL [--json]
 *
 * The compiled pool (its IPs and warm-up schedule) is read from NATS KV, where the
 * operator or local mode published it. Exit status: 0 done, 1 NATS or Redis failed or the
 * pool is unknown, 2 the command line is wrong.
 */
import { parseArgs } from 'node:util';
import {
  type CompiledPool,
  connectNats,
  type IpStatus,
  KV_KEYS,
  openPoolBucket,
  poolKey,
  REDIS_KEYS,
  readIpStatus,
} from '@hikyaku/core';
import { Redis } from 'ioredis';
import type { CliIo } from './trace.ts';

export const SHAPING_USAGE = `usage: hikyaku shaping --nats URL --redis URL --pool POOL [--json]

  Shows each IP of the pool: warm-up day, today's cap, sent today, mail waiting for
  tomorrow, and the destinations that take less than declared (learned rate, ceiling,
  connections, and whether the rate or the connections were the trouble).

  --nats URL          NATS holding the compiled pool (default: $NATS_URL)
  --redis URL         Redis holding the shaping state (default: $REDIS_URL)
  --pool POOL         pool key (namespace_name) or namespace/name
  --json              one JSON object per IP
`;

class UsageError extends Error {}

/** One IP as the command prints it. */
export interface ShapingView extends IpStatus {
  /** Mail parked for this IP's next day (overflow: defer); null for an IP that does not warm up. */
  waitingForTomorrow: number | null;
}

function poolOf(value: string): string {
  const slash = value.indexOf('/');
  return slash < 0 ? value : poolKey(value.slice(0, slash), value.slice(slash + 1));
}

/** What the command shows, from the compiled pool and Redis at `now`. */
export async function readShapingView(
  redis: Redis,
  pool: CompiledPool,
  now: number,
): Promise<{ ips: ShapingView[]; spillWaiting: number }> {
  const rows = await readIpStatus(redis, pool, now);
  const waiting = await Promise.all(
    rows.map((row) =>
      row.warmupDay === null ? null : redis.zcard(REDIS_KEYS.lane(pool.key, `cap:${row.address}`)),
    ),
  );
  const spillWaiting = await redis.zcard(REDIS_KEYS.lane(pool.key, 'cap:*'));
  return {
    ips: rows.map((row, i) => ({ ...row, waitingForTomorrow: waiting[i] ?? null })),
    spillWaiting,
  };
}

function describe(view: ShapingView): string[] {
  const warmup =
    view.warmupDay === null
      ? 'warm'
      : `day ${view.warmupDay}, cap ${view.dailyLimit}, ${view.waitingForTomorrow} waiting for tomorrow`;
  const lines = [`${view.address}\t${view.state}\t${warmup}\tsent today ${view.sentToday}`];
  for (const site of view.throttled) {
    const connections = site.connections !== undefined ? `, ${site.connections} connections` : '';
    const paused = site.pausedUntil
      ? `, paused until ${new Date(site.pausedUntil).toISOString()}`
      : '';
    lines.push(
      `  ${site.site}\t${site.state} (${site.reason})\t${site.messagesPerMinute}/min, refused at ${site.ceiling}/min${connections}${paused}`,
    );
  }
  return lines;
}

/** Runs the command; returns the exit status. */
export async function runShapingCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv, io);
  } catch (err) {
    io.err(`hikyaku shaping: ${(err as Error).message}`);
    io.err(SHAPING_USAGE);
    return 2;
  }
  if (parsed === 'help') {
    io.out(SHAPING_USAGE);
    return 0;
  }
  const { natsUrl, redisUrl, pool: key, json } = parsed;
  let pool: CompiledPool | undefined;
  try {
    const nats = await connectNats({ url: natsUrl, name: 'hikyaku-shaping-cli' });
    try {
      const entry = await (await openPoolBucket(nats.js)).get(KV_KEYS.pool(key));
      pool = entry && entry.operation === 'PUT' ? entry.json<CompiledPool>() : undefined;
    } finally {
      await nats.nc.close();
    }
  } catch (err) {
    io.err(
      `hikyaku shaping: [HIKYAKU_NATS_UNAVAILABLE] NATS at ${natsUrl} failed: ${(err as Error).message}`,
    );
    return 1;
  }
  if (!pool) {
    io.err(`hikyaku shaping: [HIKYAKU_UNKNOWN_POOL] no pool ${key} in NATS KV`);
    return 1;
  }
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {
    // Reported by the command that fails.
  });
  try {
    await redis.connect();
    const view = await readShapingView(redis, pool, Date.now());
    for (const ip of view.ips) {
      if (json) io.out(JSON.stringify(ip));
      else for (const line of describe(ip)) io.out(line);
    }
    if (!json && pool.warmup.overflow === 'spill') {
      io.out(`every IP capped: ${view.spillWaiting} waiting for tomorrow`);
    }
    return 0;
  } catch (err) {
    io.err(
      `hikyaku shaping: [HIKYAKU_REDIS_UNAVAILABLE] Redis at ${redisUrl} failed: ${(err as Error).message}`,
    );
    return 1;
  } finally {
    redis.disconnect();
  }
}

function parse(argv: string[], io: CliIo) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      nats: { type: 'string' },
      redis: { type: 'string' },
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help' as const;
  if (positionals.length > 0) throw new UsageError(`unexpected "${positionals[0]}"`);
  const natsUrl = values.nats ?? io.env.NATS_URL;
  if (!natsUrl) throw new UsageError('--nats URL is required (or set NATS_URL)');
  const redisUrl = values.redis ?? io.env.REDIS_URL;
  if (!redisUrl) throw new UsageError('--redis URL is required (or set REDIS_URL)');
  if (!values.pool) throw new UsageError('--pool is required');
  return { natsUrl, redisUrl, pool: poolOf(values.pool), json: values.json ?? false };
}
