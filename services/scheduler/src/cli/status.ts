/**
 * `hikyaku status`: the screen an admin looks at first — every pool, its IPs with their
 * state, warm-up day, what they sent today against today's cap, the throttles the relay
 * learned from receivers, and how much mail each stage holds.
 *
 * Exit status as every command (common.ts): no pool known is 1.
 */
import {
  allPools,
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
  relayOptionsOf,
  relayUrls,
  runCommand,
  usageError,
} from './common.ts';
import {
  formatAllPoolsStatus,
  formatPoolStatus,
  readAllPoolsStatus,
  readPoolStatus,
} from './status-read.ts';

export const STATUS_USAGE = `usage: hikyaku status [--nats URL --redis URL | --data-dir DIR] [--pool POOL] [--json]

  every pool (or POOL: its key namespace_name, namespace/name, or its name alone): IPs
  with state, warm-up day, sent today and today's cap, learned throttles, and the mail
  each stage holds; then, once for all pools, the mail stored with its envelope in the
  body's message still to split, and the relay's wire version

  --nats URL, --redis URL   the relay's NATS and Redis (default: $NATS_URL and $REDIS_URL,
                            else the local mode running from --data-dir, default .hikyaku)
  --json                    one JSON object per pool, then {"allPools": {...}}
`;

interface StatusArgs extends RelayOptions {
  dataDir: string;
  pool: string | undefined;
  json: boolean;
}

/** The command, reading the relay as it stands at `now`. */
export function statusCommand(now: () => number = Date.now): CliCommand<StatusArgs> {
  return {
    name: 'status',
    usage: STATUS_USAGE,
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
      return {
        ...relayOptionsOf(values),
        pool: values.pool,
        json: values.json ?? false,
      };
    },
    async run(args, io) {
      const { natsUrl, redisUrl } = await relayUrls(args, io, { nats: true, redis: true });
      const nats = await connectCliNats(natsUrl, 'status', io);
      try {
        const pools = await (args.pool
          ? choosePoolOf(nats, args.pool).then((p) => [p])
          : allPools(nats)
        ).catch((err: unknown) => {
          throw err instanceof CliError ? err : natsFailed(natsUrl, err);
        });
        const redis = await connectCliRedis(redisUrl);
        try {
          for (const pool of pools) {
            const status = await readPoolStatus({ jsm: nats.jsm, redis }, pool, now());
            if (args.json) {
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
          const all = await readAllPoolsStatus(nats.jsm);
          if (args.json) io.out(JSON.stringify({ allPools: all }));
          else for (const line of formatAllPoolsStatus(all)) io.out(line);
          return 0;
        } finally {
          redis.disconnect();
        }
      } finally {
        await nats.nc.close().catch(() => undefined);
      }
    },
  };
}

/** Runs the command; returns the exit status. */
export function runStatusCli(argv: string[], io: CliIo, now = Date.now()): Promise<number> {
  return runCommand(
    statusCommand(() => now),
    argv,
    io,
  );
}
