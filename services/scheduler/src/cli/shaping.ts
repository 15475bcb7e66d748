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
 * operator or local mode published it. Exit status as every command (common.ts).
 */
import { type CompiledPool, type IpStatus, REDIS_KEYS, readIpStatus } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import {
  type CliCommand,
  CliError,
  type CliIo,
  choosePoolOf,
  connectCliNats,
  connectCliRedis,
  HELP,
  natsFailed,
  parseCommandLine,
  RELAY_OPTIONS,
  type RelayOptions,
  redisFailed,
  relayOptionsOf,
  relayUrls,
  runCommand,
  usageError,
} from './common.ts';

export const SHAPING_USAGE = `usage: hikyaku shaping [--nats URL --redis URL | --data-dir DIR] --pool POOL [--json]

  Shows each IP of the pool: warm-up day, today's cap, sent today, mail waiting for
  tomorrow, and the destinations that take less than declared (learned rate, ceiling,
  connections, and whether the rate or the connections were the trouble).

  --nats URL          NATS holding the compiled pool (default: $NATS_URL)
  --redis URL         Redis holding the shaping state (default: $REDIS_URL)
                      (both default to the local mode running from --data-dir, .hikyaku)
  --pool POOL         pool key (namespace_name), namespace/name, or its name alone
  --json              one JSON object per IP
`;

/** One IP as the command prints it. */
export interface ShapingView extends IpStatus {
  /** Mail parked for this IP's next day (overflow: defer); null for an IP that does not warm up. */
  waitingForTomorrow: number | null;
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

interface ShapingArgs extends RelayOptions {
  dataDir: string;
  pool: string;
  json: boolean;
}

export const shapingCommand: CliCommand<ShapingArgs> = {
  name: 'shaping',
  usage: SHAPING_USAGE,
  parse(argv) {
    const { values, positionals } = parseCommandLine(argv, {
      ...RELAY_OPTIONS.nats,
      ...RELAY_OPTIONS.redis,
      ...RELAY_OPTIONS.dataDir,
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (values.help) return HELP;
    if (positionals.length > 0) throw usageError(`unexpected "${positionals[0]}"`);
    if (!values.pool) throw usageError('--pool is required');
    return {
      ...relayOptionsOf(values),
      pool: values.pool,
      json: values.json ?? false,
    };
  },
  async run({ json, ...given }, io) {
    const { natsUrl, redisUrl } = await relayUrls(given, io, { nats: true, redis: true });
    const nats = await connectCliNats(natsUrl, 'shaping', io);
    let pool: CompiledPool;
    try {
      pool = await choosePoolOf(nats, given.pool);
    } catch (err) {
      throw err instanceof CliError ? err : natsFailed(natsUrl, err);
    } finally {
      await nats.nc.close().catch(() => undefined);
    }
    const redis = await connectCliRedis(redisUrl);
    try {
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
      throw redisFailed(redisUrl, err);
    } finally {
      redis.disconnect();
    }
  },
};

/** Runs the command; returns the exit status. */
export function runShapingCli(argv: string[], io: CliIo): Promise<number> {
  return runCommand(shapingCommand, argv, io);
}
