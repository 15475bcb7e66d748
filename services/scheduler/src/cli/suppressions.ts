/**
 * `hikyaku suppressions`: the pool's suppression list from the command line, through the
 * same module the ingress and the scheduler use (core/src/suppression.ts).
 *
 *   hikyaku suppressions add    --redis URL --pool POOL [--reason R] ADDRESS...
 *   hikyaku suppressions remove --redis URL --pool POOL ADDRESS...
 *   hikyaku suppressions lookup --redis URL --pool POOL ADDRESS...
 *   hikyaku suppressions list   --redis URL --pool POOL [--count N] [--cursor C | --all]
 *
 * POOL is the pool key (namespace_name), namespace/name, or the name alone when it is
 * unique; it must be a pool the relay knows (read from NATS), so that a typo does not fill
 * a list nobody reads. --json prints one JSON object a line. Exit status as every command
 * (common.ts).
 */
import { createSuppressionList, type SuppressionEntry, suppressionAddress } from '@hikyaku/core';
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

export const SUPPRESSIONS_USAGE = `usage: hikyaku suppressions <add|remove|lookup|list> --redis URL --pool POOL [options] [ADDRESS...]

  add ADDRESS...      suppress the addresses (--reason TEXT, default "manual")
  remove ADDRESS...   take the addresses off the list
  lookup ADDRESS...   show whether each address is suppressed, and why
  list                show the list a page at a time (--count N, --cursor C) or whole (--all)

  --redis URL         Redis holding the list (default: $REDIS_URL)
  --nats URL          NATS of the relay, to check the pool (default: $NATS_URL)
                      (both default to the local mode running from --data-dir, .hikyaku)
  --pool POOL         pool key (namespace_name), namespace/name, or its name alone
  --json              one JSON object per line
`;

function describe(address: string, entry: SuppressionEntry): string {
  const reply = entry.reply ? `\t${entry.reply.code} ${entry.reply.text}` : '';
  return `${address}\tsuppressed\t${entry.reason}\t${new Date(entry.at).toISOString()}\t${entry.source}${reply}`;
}

type Action = 'add' | 'remove' | 'lookup' | 'list';

interface SuppressionsArgs extends RelayOptions {
  dataDir: string;
  action: Action;
  pool: string;
  addresses: string[];
  reason: string | undefined;
  count: number;
  cursor: string;
  all: boolean;
  json: boolean;
}

export const suppressionsCommand: CliCommand<SuppressionsArgs> = {
  name: 'suppressions',
  usage: SUPPRESSIONS_USAGE,
  parse(argv) {
    const { values, positionals } = parseCommandLine(argv, {
      ...RELAY_OPTIONS.nats,
      ...RELAY_OPTIONS.redis,
      ...RELAY_OPTIONS.dataDir,
      pool: { type: 'string' },
      reason: { type: 'string' },
      count: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    });
    if (values.help) return HELP;
    const [action, ...addresses] = positionals;
    if (action === undefined) throw usageError('name an action: add, remove, lookup or list');
    if (!['add', 'remove', 'lookup', 'list'].includes(action)) {
      throw usageError(`unknown action "${action}"`);
    }
    if (!values.pool) throw usageError('--pool is required');
    if (action === 'list' && addresses.length > 0) {
      throw usageError('list takes no addresses');
    }
    if (action !== 'list' && addresses.length === 0) {
      throw usageError(`${action} needs at least one address`);
    }
    for (const address of addresses) {
      if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw usageError(`"${address}" is not an address`);
    }
    if (values.count !== undefined && !/^[1-9]\d*$/.test(values.count)) {
      throw usageError(`--count must be a whole number, got "${values.count}"`);
    }
    if (values.reason !== undefined && action !== 'add') {
      throw usageError('--reason goes with add');
    }
    return {
      action: action as Action,
      ...relayOptionsOf(values),
      pool: values.pool,
      addresses,
      reason: values.reason,
      count: Number(values.count ?? 100),
      cursor: values.cursor ?? '0',
      all: values.all ?? false,
      json: values.json ?? false,
    };
  },
  async run(args, io) {
    const { action, addresses } = args;
    const { natsUrl, redisUrl } = await relayUrls(args, io, { nats: true, redis: true });
    const nats = await connectCliNats(natsUrl, 'suppressions', io);
    let pool: string;
    try {
      pool = (await choosePoolOf(nats, args.pool)).key;
    } catch (err) {
      throw err instanceof CliError ? err : natsFailed(natsUrl, err);
    } finally {
      await nats.nc.close().catch(() => undefined);
    }
    const redis = await connectCliRedis(redisUrl);
    const list = createSuppressionList(redis);
    const print = (json: object, text: string) => io.out(args.json ? JSON.stringify(json) : text);
    try {
      if (action === 'add') {
        const entry: SuppressionEntry = {
          reason: args.reason ?? 'manual',
          at: Date.now(),
          source: 'cli',
        };
        for (const address of addresses) {
          await list.add(pool, address, entry);
          print({ address: suppressionAddress(address), ...entry }, `suppressed ${address}`);
        }
      } else if (action === 'remove') {
        for (const address of addresses) {
          const removed = await list.remove(pool, address);
          print(
            { address, removed },
            removed ? `removed ${address}` : `not on the list: ${address}`,
          );
        }
      } else if (action === 'lookup') {
        const found = await list.lookup(pool, addresses);
        for (const address of addresses) {
          const entry = found.get(suppressionAddress(address));
          print(
            { address, suppressed: entry !== undefined, ...(entry ? { entry } : {}) },
            entry ? describe(address, entry) : `${address}\tnot suppressed`,
          );
        }
      } else {
        let cursor = args.cursor;
        do {
          const page = await list.list(pool, { cursor, count: args.count });
          for (const { address, entry } of page.entries) {
            print({ address, ...entry }, describe(address, entry));
          }
          cursor = page.cursor;
        } while (args.all && cursor !== '0');
        if (cursor !== '0') io.err(`more: --cursor ${cursor}`);
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
export function runSuppressionsCli(argv: string[], io: CliIo): Promise<number> {
  return runCommand(suppressionsCommand, argv, io);
}
