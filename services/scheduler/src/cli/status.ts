/**
 * `hikyaku status`: the screen an admin looks at first — every pool, its IPs with their
 * state, warm-up day, what they sent today against today's cap, the throttles the relay
 * learned from receivers, and how much mail each stage holds.
 *
 * Exit status: 0 shown, 1 NATS or Redis failed or no pool is known, 2 the command line is
 * wrong.
 */
import { parseArgs } from 'node:util';
import { openPoolBucket, poolKey } from '@hikyaku/core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { formatPoolStatus, readPoolStatus, readPools } from './status-read.ts';
import type { CliIo } from './trace.ts';

export const STATUS_USAGE = `usage: hikyaku status [--nats URL --redis URL | --data-dir DIR] [--pool POOL] [--json]

  every pool (or POOL: its key namespace_name, or namespace/name): IPs with state, warm-up
  day, sent today and today's cap, learned throttles, and the mail each stage holds

  --nats URL, --redis URL   the relay's NATS and Redis (default: $NATS_URL and $REDIS_URL,
                            else the local mode running from --data-dir, default .hikyaku)
  --json                    one JSON object per pool
`;

class UsageError extends Error {}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      nats: { type: 'string' },
      redis: { type: 'string' },
      'data-dir': { type: 'string', default: '.hikyaku' },
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help' as const;
  if (positionals.length > 0) throw new UsageError(`unexpected "${positionals[0]}"`);
  const pool = values.pool;
  const slash = pool?.indexOf('/') ?? -1;
  return {
    nats: values.nats,
    redis: values.redis,
    dataDir: values['data-dir'] ?? '.hikyaku',
    pool: pool && slash >= 0 ? poolKey(pool.slice(0, slash), pool.slice(slash + 1)) : pool,
    json: values.json ?? false,
  };
}

/** Runs the command; returns the exit status. */
export async function runStatusCli(argv: string[], io: CliIo, now = Date.now()): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`hikyaku status: ${(err as Error).message}`);
    io.err(STATUS_USAGE);
    return 2;
  }
  if (parsed === 'help') {
    io.out(STATUS_USAGE);
    return 0;
  }
  let natsUrl = parsed.nats ?? io.env.NATS_URL;
  let redisUrl = parsed.redis ?? io.env.REDIS_URL;
  if (!natsUrl || !redisUrl) {
    try {
      const local = await io.localStack?.(parsed.dataDir);
      natsUrl ??= local?.natsUrl;
      redisUrl ??= local?.redisUrl;
    } catch (err) {
      io.err(`hikyaku status: give --nats and --redis URLs; ${(err as Error).message}`);
      return 1;
    }
    if (!natsUrl || !redisUrl) {
      io.err('hikyaku status: give --nats and --redis URLs (or set NATS_URL and REDIS_URL)');
      return 2;
    }
  }
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    nc = await connect({ servers: natsUrl.split(','), name: 'hikyaku-status', timeout: 5000 });
  } catch (err) {
    io.err(
      `hikyaku status: [HIKYAKU_NATS_UNAVAILABLE] NATS at ${natsUrl}: ${(err as Error).message}`,
    );
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
    await redis.connect().catch((err: unknown) => {
      throw new Error(
        `[HIKYAKU_REDIS_UNAVAILABLE] Redis at ${redisUrl}: ${(err as Error).message}`,
      );
    });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const pools = (await readPools(await openPoolBucket(js))).filter(
      (p) => !parsed.pool || p.key === parsed.pool,
    );
    if (pools.length === 0) {
      io.err(
        parsed.pool
          ? `hikyaku status: no pool ${parsed.pool} is known to the relay`
          : 'hikyaku status: the relay knows no pool yet',
      );
      return 1;
    }
    for (const pool of pools) {
      const status = await readPoolStatus({ jsm, redis }, pool, now);
      if (parsed.json) {
        io.out(
          JSON.stringify({
            pool: pool.key,
            ips: status.ips,
            throttles: status.throttles,
            queue: status.queue,
          }),
        );
      } else {
        for (const line of formatPoolStatus(status)) io.out(line);
      }
    }
    return 0;
  } catch (err) {
    io.err(`hikyaku status: ${(err as Error).message}`);
    return 1;
  } finally {
    redis.disconnect();
    await nc.close().catch(() => undefined);
  }
}
