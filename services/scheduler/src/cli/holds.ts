/**
 * `hikyaku holds`: the sender domains and submitters whose bulk mail the complaint guard
 * holds, and their release, through the module the scheduler uses (complaint-holds.ts).
 *
 *   hikyaku holds list    --redis URL --pool POOL
 *   hikyaku holds release --redis URL --pool POOL DOMAIN...
 *   hikyaku holds release --redis URL --pool POOL --submitter USERNAME...
 *
 * POOL is the pool key (namespace_name) or namespace/name. --json prints one JSON object a
 * line. Exit status: 0 done, 1 Redis failed, 2 the command line is wrong.
 */
import { parseArgs } from 'node:util';
import { poolKey } from '@hikyaku/core';
import { Redis } from 'ioredis';
import { type ComplaintHold, createComplaintHolds, SUBMITTER_SCOPE } from '../complaint-holds.ts';
import type { CliIo } from './trace.ts';

export const HOLDS_USAGE = `usage: hikyaku holds <list|release> --redis URL --pool POOL [DOMAIN...]

  list                show the sender domains and submitters held for their complaint
                      rate, since when and why
  release DOMAIN...   let the domains' bulk mail go again (a new complaint over the
                      stop rate holds it again)
  release --submitter USERNAME...
                      the same for submitters (the usernames mail was handed in under)

  --redis URL         Redis of the relay (default: $REDIS_URL)
  --pool POOL         pool key (namespace_name) or namespace/name
  --json              one JSON object per line
`;

class UsageError extends Error {}

const DOMAIN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

function parse(argv: string[], io: CliIo) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      redis: { type: 'string' },
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
      submitter: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help' as const;
  const [action, ...domains] = positionals;
  if (action !== 'list' && action !== 'release') {
    throw new UsageError(action ? `unknown action "${action}"` : 'name an action: list or release');
  }
  const redisUrl = values.redis ?? io.env.REDIS_URL;
  if (!redisUrl) throw new UsageError('--redis URL is required (or set REDIS_URL)');
  if (!values.pool) throw new UsageError('--pool is required');
  if (action === 'list' && domains.length > 0) throw new UsageError('list takes no domains');
  if (values.submitter && action !== 'release') {
    throw new UsageError('--submitter goes with release');
  }
  if (action === 'release' && domains.length === 0) {
    throw new UsageError(`release needs at least one ${values.submitter ? 'username' : 'domain'}`);
  }
  for (const domain of values.submitter ? [] : domains) {
    if (!DOMAIN.test(domain)) throw new UsageError(`"${domain}" is not a domain`);
  }
  const slash = values.pool.indexOf('/');
  const pool =
    slash < 0 ? values.pool : poolKey(values.pool.slice(0, slash), values.pool.slice(slash + 1));
  return { action, redisUrl, pool, domains, json: values.json, submitter: values.submitter };
}

/** Runs the command; returns the exit status. */
export async function runHoldsCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv, io);
  } catch (err) {
    io.err(`hikyaku holds: ${(err as Error).message}`);
    io.err(HOLDS_USAGE);
    return 2;
  }
  if (parsed === 'help') {
    io.out(HOLDS_USAGE);
    return 0;
  }
  const { action, redisUrl, pool, domains, json, submitter } = parsed;
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {
    // Reported by the command that fails.
  });
  const holds = createComplaintHolds(redis);
  const submitterHolds = createComplaintHolds(redis, SUBMITTER_SCOPE);
  const why = (hold: ComplaintHold) =>
    `held since ${new Date(hold.at).toISOString()}\t${(hold.rate * 100).toFixed(2)} % (${hold.complaints} complaints, ${hold.delivered} delivered)`;
  const print = (value: object, text: string) => io.out(json ? JSON.stringify(value) : text);
  try {
    await redis.connect();
    if (action === 'list') {
      for (const [domain, hold] of await holds.list(pool)) {
        print({ domain, ...hold }, `${domain}\t${why(hold)}`);
      }
      for (const [name, hold] of await submitterHolds.list(pool)) {
        print({ submitter: name, ...hold }, `submitter ${name}\t${why(hold)}`);
      }
    } else if (submitter) {
      for (const name of domains) {
        const released = await submitterHolds.release(pool, name);
        print(
          { submitter: name, released },
          released ? `released submitter ${name}` : `not held: submitter ${name}`,
        );
      }
    } else {
      for (const domain of domains) {
        const released = await holds.release(pool, domain);
        print({ domain, released }, released ? `released ${domain}` : `not held: ${domain}`);
      }
    }
    return 0;
  } catch (err) {
    io.err(
      `hikyaku holds: [HIKYAKU_REDIS_UNAVAILABLE] Redis at ${redisUrl} failed: ${(err as Error).message}`,
    );
    return 1;
  } finally {
    redis.disconnect();
  }
}
