/**
 * `hikyaku holds`: the sender domains whose bulk mail the complaint guard holds, and their
 * release, through the module the scheduler uses (complaint-holds.ts).
 *
 *   hikyaku holds list    --redis URL --pool POOL
 *   hikyaku holds release --redis URL --pool POOL DOMAIN...
 *
 * POOL is the pool key (namespace_name) or namespace/name: no NATS is needed to name it.
 * --json prints one JSON object a line. Exit status as every command (common.ts).
 */
import { createComplaintHolds } from '../complaint-holds.ts';
import {
  type CliCommand,
  type CliIo,
  connectCliRedis,
  HELP,
  parseCommandLine,
  poolKeyOf,
  redisFailed,
  relayUrls,
  runCommand,
  usageError,
} from './common.ts';

export const HOLDS_USAGE = `usage: hikyaku holds <list|release> [--redis URL | --data-dir DIR] --pool POOL [DOMAIN...]

  list                show the sender domains held for their complaint rate, since when and why
  release DOMAIN...   let the domains' bulk mail go again (a new complaint over the
                      stop rate holds it again)

  --redis URL         Redis of the relay (default: $REDIS_URL, else the local mode running
                      from --data-dir, default .hikyaku)
  --pool POOL         pool key (namespace_name) or namespace/name
  --json              one JSON object per line
`;

const DOMAIN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

interface HoldsArgs {
  action: 'list' | 'release';
  redis: string | undefined;
  dataDir: string;
  pool: string;
  domains: string[];
  json: boolean;
}

export const holdsCommand: CliCommand<HoldsArgs> = {
  name: 'holds',
  usage: HOLDS_USAGE,
  parse(argv) {
    const { values, positionals } = parseCommandLine(argv, {
      redis: { type: 'string' },
      'data-dir': { type: 'string', default: '.hikyaku' },
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (values.help) return HELP;
    const [action, ...domains] = positionals;
    if (action !== 'list' && action !== 'release') {
      throw usageError(action ? `unknown action "${action}"` : 'name an action: list or release');
    }
    if (!values.pool) throw usageError('--pool is required');
    if (action === 'list' && domains.length > 0) throw usageError('list takes no domains');
    if (action === 'release' && domains.length === 0) {
      throw usageError('release needs at least one domain');
    }
    for (const domain of domains) {
      if (!DOMAIN.test(domain)) throw usageError(`"${domain}" is not a domain`);
    }
    return {
      action,
      redis: values.redis,
      dataDir: values['data-dir'] ?? '.hikyaku',
      pool: poolKeyOf(values.pool),
      domains,
      json: values.json ?? false,
    };
  },
  async run({ action, pool, domains, json, ...given }, io) {
    const { redisUrl } = await relayUrls(given, io, { nats: false, redis: true });
    const redis = await connectCliRedis(redisUrl);
    const holds = createComplaintHolds(redis);
    const print = (value: object, text: string) => io.out(json ? JSON.stringify(value) : text);
    try {
      if (action === 'list') {
        for (const [domain, hold] of await holds.list(pool)) {
          print(
            { domain, ...hold },
            `${domain}\theld since ${new Date(hold.at).toISOString()}\t${(hold.rate * 100).toFixed(2)} % (${hold.complaints} complaints, ${hold.delivered} delivered)`,
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
      throw redisFailed(redisUrl, err);
    } finally {
      redis.disconnect();
    }
  },
};

/** Runs the command; returns the exit status. */
export function runHoldsCli(argv: string[], io: CliIo): Promise<number> {
  return runCommand(holdsCommand, argv, io);
}
