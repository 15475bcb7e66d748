/**
 * `hikyaku holds`: the sender domains and submitters whose bulk mail the complaint guard
 * holds, and their release, through the module the scheduler uses (complaint-holds.ts).
 *
 *   hikyaku holds list    --redis URL --pool POOL
 *   hikyaku holds release --redis URL --pool POOL DOMAIN...
 *   hikyaku holds release --redis URL --pool POOL --submitter USERNAME...
 *
 * POOL is the pool key (namespace_name) or namespace/name: no NATS is needed to name it.
 * --json prints one JSON object a line. Exit status as every command (common.ts).
 */
import { type ComplaintHold, createComplaintHolds, SUBMITTER_SCOPE } from '../complaint-holds.ts';
import {
  type CliCommand,
  type CliIo,
  connectCliRedis,
  HELP,
  parseCommandLine,
  poolKeyOf,
  RELAY_OPTIONS,
  type RelayOptions,
  redisFailed,
  relayOptionsOf,
  relayUrls,
  runCommand,
  usageError,
} from './common.ts';

export const HOLDS_USAGE = `usage: hikyaku holds <list|release> [--redis URL | --data-dir DIR] --pool POOL [DOMAIN...]

  list                show the sender domains and submitters held for their complaint
                      rate, since when and why
  release DOMAIN...   let the domains' bulk mail go again (a new complaint over the
                      stop rate holds it again)
  release --submitter USERNAME...
                      the same for submitters (the usernames mail was handed in under)

  --redis URL         Redis of the relay (default: $REDIS_URL, else the local mode running
                      from --data-dir, default .hikyaku)
  --pool POOL         pool key (namespace_name) or namespace/name
  --json              one JSON object per line
`;

const DOMAIN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

interface HoldsArgs extends RelayOptions {
  dataDir: string;
  action: 'list' | 'release';
  pool: string;
  domains: string[];
  json: boolean;
  submitter: boolean;
}

export const holdsCommand: CliCommand<HoldsArgs> = {
  name: 'holds',
  usage: HOLDS_USAGE,
  parse(argv) {
    const { values, positionals } = parseCommandLine(argv, {
      ...RELAY_OPTIONS.redis,
      ...RELAY_OPTIONS.dataDir,
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
      submitter: { type: 'boolean', default: false },
    });
    if (values.help) return HELP;
    const [action, ...domains] = positionals;
    if (action !== 'list' && action !== 'release') {
      throw usageError(action ? `unknown action "${action}"` : 'name an action: list or release');
    }
    if (!values.pool) throw usageError('--pool is required');
    if (action === 'list' && domains.length > 0) throw usageError('list takes no domains');
    if (values.submitter && action !== 'release') {
      throw usageError('--submitter goes with release');
    }
    if (action === 'release' && domains.length === 0) {
      throw usageError(`release needs at least one ${values.submitter ? 'username' : 'domain'}`);
    }
    for (const domain of values.submitter ? [] : domains) {
      if (!DOMAIN.test(domain)) throw usageError(`"${domain}" is not a domain`);
    }
    return {
      action,
      ...relayOptionsOf(values),
      pool: poolKeyOf(values.pool),
      domains,
      json: values.json ?? false,
      submitter: values.submitter ?? false,
    };
  },
  async run({ action, pool, domains, json, submitter, ...given }, io) {
    const { redisUrl } = await relayUrls(given, io, { nats: false, redis: true });
    const redis = await connectCliRedis(redisUrl);
    const holds = createComplaintHolds(redis);
    const submitterHolds = createComplaintHolds(redis, SUBMITTER_SCOPE);
    const why = (hold: ComplaintHold) =>
      `held since ${new Date(hold.at).toISOString()}\t${(hold.rate * 100).toFixed(2)} % (${hold.complaints} complaints, ${hold.delivered} delivered)`;
    const print = (value: object, text: string) => io.out(json ? JSON.stringify(value) : text);
    try {
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
