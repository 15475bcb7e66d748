/**
 * `hikyaku suppressions`: the pool's suppression list from the command line, through the
 * same module the ingress and the scheduler use (core/src/suppression.ts).
 *
 *   hikyaku suppressions add    --redis URL --pool POOL [--reason R] ADDRESS...
 *   hikyaku suppressions remove --redis URL --pool POOL ADDRESS...
 *   hikyaku suppressions lookup --redis URL --pool POOL ADDRESS...
 *   hikyaku suppressions list   --redis URL --pool POOL [--count N] [--cursor C | --all]
 *
 * POOL is the pool key (namespace_name) or namespace/name. --json prints one JSON object a
 * line. Exit status: 0 done, 1 Redis failed, 2 the command line is wrong.
 */
import { parseArgs } from 'node:util';
import {
  createSuppressionList,
  poolKey,
  type SuppressionEntry,
  suppressionAddress,
} from '@hikyaku/core';
import { Redis } from 'ioredis';

export const SUPPRESSIONS_USAGE = `usage: hikyaku suppressions <add|remove|lookup|list> --redis URL --pool POOL [options] [ADDRESS...]

  add ADDRESS...      suppress the addresses (--reason TEXT, default "manual")
  remove ADDRESS...   take the addresses off the list
  lookup ADDRESS...   show whether each address is suppressed, and why
  list                show the list a page at a time (--count N, --cursor C) or whole (--all)

  --redis URL         Redis holding the list (default: $REDIS_URL)
  --pool POOL         pool key (namespace_name) or namespace/name
  --json              one JSON object per line
`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

class UsageError extends Error {}

function poolOf(value: string): string {
  const slash = value.indexOf('/');
  return slash < 0 ? value : poolKey(value.slice(0, slash), value.slice(slash + 1));
}

function describe(address: string, entry: SuppressionEntry): string {
  const reply = entry.reply ? `\t${entry.reply.code} ${entry.reply.text}` : '';
  return `${address}\tsuppressed\t${entry.reason}\t${new Date(entry.at).toISOString()}\t${entry.source}${reply}`;
}

/** Runs the command; returns the exit status. */
export async function runSuppressionsCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv, io);
  } catch (err) {
    io.err(`hikyaku suppressions: ${(err as Error).message}`);
    io.err(SUPPRESSIONS_USAGE);
    return 2;
  }
  if (parsed === 'help') {
    io.out(SUPPRESSIONS_USAGE);
    return 0;
  }
  const { action, redisUrl, pool, addresses, values } = parsed;
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {
    // Reported by the command that fails.
  });
  const list = createSuppressionList(redis);
  const print = (json: object, text: string) => io.out(values.json ? JSON.stringify(json) : text);
  try {
    await redis.connect();
    if (action === 'add') {
      const entry: SuppressionEntry = {
        reason: values.reason ?? 'manual',
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
        print({ address, removed }, removed ? `removed ${address}` : `not on the list: ${address}`);
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
      let cursor = values.cursor ?? '0';
      const count = Number(values.count ?? 100);
      do {
        const page = await list.list(pool, { cursor, count });
        for (const { address, entry } of page.entries) {
          print({ address, ...entry }, describe(address, entry));
        }
        cursor = page.cursor;
      } while (values.all && cursor !== '0');
      if (cursor !== '0') io.err(`more: --cursor ${cursor}`);
    }
    return 0;
  } catch (err) {
    io.err(
      `hikyaku suppressions: [HIKYAKU_REDIS_UNAVAILABLE] Redis at ${redisUrl} failed: ${(err as Error).message}`,
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
      redis: { type: 'string' },
      pool: { type: 'string' },
      reason: { type: 'string' },
      count: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help' as const;
  const [action, ...addresses] = positionals;
  if (action === undefined) throw new UsageError('name an action: add, remove, lookup or list');
  if (!['add', 'remove', 'lookup', 'list'].includes(action)) {
    throw new UsageError(`unknown action "${action}"`);
  }
  const redisUrl = values.redis ?? io.env.REDIS_URL;
  if (!redisUrl) throw new UsageError('--redis URL is required (or set REDIS_URL)');
  if (!values.pool) throw new UsageError('--pool is required');
  if (action === 'list' && addresses.length > 0) {
    throw new UsageError('list takes no addresses');
  }
  if (action !== 'list' && addresses.length === 0) {
    throw new UsageError(`${action} needs at least one address`);
  }
  for (const address of addresses) {
    if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new UsageError(`"${address}" is not an address`);
  }
  if (values.count !== undefined && !/^[1-9]\d*$/.test(values.count)) {
    throw new UsageError(`--count must be a whole number, got "${values.count}"`);
  }
  if (values.reason !== undefined && action !== 'add') {
    throw new UsageError('--reason goes with add');
  }
  return {
    action: action as 'add' | 'remove' | 'lookup' | 'list',
    redisUrl,
    pool: poolOf(values.pool),
    addresses,
    values,
  };
}
