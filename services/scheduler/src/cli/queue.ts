/**
 * `hikyaku queue`: what waits in each pool, per destination, and why (queue-read.ts); and
 * the admin's hands on a destination's mail:
 *
 *   hikyaku queue [--pool P] [--domain D] [--json]   the view
 *   hikyaku queue --pool P --hold D                  send nothing to D; its mail waits
 *   hikyaku queue --pool P --release D               send D's mail again
 *   hikyaku queue --pool P --flush D                 D's deferred mail is due now
 *
 * Holds live in Redis and flushes act on the queue stream itself, so every scheduler
 * replica follows them. Each action is published as an event (SUBJECTS.queueAction), and
 * a flush also files a `flushed` event per recipient, which `hikyaku trace` shows.
 * Exit status as every command (common.ts).
 */
import { type CompiledPool, codecs, type QueueActionEvent, SUBJECTS } from '@hikyaku/core';
import { createDestinationHolds } from '../destination-holds.ts';
import { createEventPublisher } from '../events.ts';
import { flushRetryWaits } from '../retry-waits.ts';
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
import { formatQueueView, readQueueView } from './queue-read.ts';

export const QUEUE_USAGE = `usage: hikyaku queue [--nats URL --redis URL | --data-dir DIR] [--pool POOL] [--domain DOMAIN] [--json]
       hikyaku queue [...] [--pool POOL] (--hold DOMAIN | --release DOMAIN | --flush DOMAIN)

  shows the mail waiting in each pool (or POOL) per destination: items, the oldest, and
  why they wait (held, retry wait and its time, throttled with the learned rate, warm-up
  cap, at the destination's rate, no active IP)

  --domain DOMAIN     only this destination
  --limit N           read at most N waiting items per rate policy (default 10000)
  --hold DOMAIN       send nothing to DOMAIN: its mail waits (its maximum age still applies)
  --release DOMAIN    lift the hold: DOMAIN's mail goes again
  --flush DOMAIN      DOMAIN's mail waiting for a retry is due now (shaping still applies)
  --pool POOL         pool key (namespace_name), namespace/name, or its name alone;
                      an action needs it when the relay has several pools
  --nats URL, --redis URL   the relay's NATS and Redis (default: $NATS_URL and $REDIS_URL,
                      else the local mode running from --data-dir, default .hikyaku)
  --json              one JSON object per pool (or per action)
`;

const DOMAIN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

type Action = { kind: 'hold' | 'release' | 'flush'; domain: string };

interface QueueArgs extends RelayOptions {
  dataDir: string;
  pool: string | undefined;
  domain: string | undefined;
  limit: number;
  action: Action | undefined;
  json: boolean;
}

function checkedDomain(option: string, value: string): string {
  if (!DOMAIN.test(value)) throw usageError(`${option}: "${value}" is not a domain`);
  return value.toLowerCase();
}

/** The command, reading and acting at `now`. */
export function queueCommand(now: () => number = Date.now): CliCommand<QueueArgs> {
  return {
    name: 'queue',
    usage: QUEUE_USAGE,
    parse(argv) {
      const { values, positionals } = parseCommandLine(argv, {
        ...RELAY_OPTIONS.nats,
        ...RELAY_OPTIONS.redis,
        ...RELAY_OPTIONS.dataDir,
        pool: { type: 'string' },
        domain: { type: 'string' },
        limit: { type: 'string' },
        hold: { type: 'string' },
        release: { type: 'string' },
        flush: { type: 'string' },
        json: { type: 'boolean', default: false },
      });
      if (values.help) return HELP;
      if (positionals.length > 0) throw usageError(`unexpected "${positionals[0]}"`);
      const actions = (['hold', 'release', 'flush'] as const).filter(
        (k) => values[k] !== undefined,
      );
      if (actions.length > 1) {
        throw usageError(`give one of --hold, --release and --flush, not ${actions.join(' and ')}`);
      }
      const kind = actions[0];
      if (kind && values.domain !== undefined) {
        throw usageError(`--domain filters the view; --${kind} names its domain itself`);
      }
      if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) {
        throw usageError(`--limit must be a whole number, got "${values.limit}"`);
      }
      return {
        ...relayOptionsOf(values),
        pool: values.pool,
        domain: values.domain === undefined ? undefined : checkedDomain('--domain', values.domain),
        limit: Number(values.limit ?? 10_000),
        action: kind
          ? { kind, domain: checkedDomain(`--${kind}`, values[kind] as string) }
          : undefined,
        json: values.json ?? false,
      };
    },
    async run(args, io) {
      const { natsUrl, redisUrl } = await relayUrls(args, io, { nats: true, redis: true });
      const nats = await connectCliNats(natsUrl, 'queue', io);
      try {
        const pools = await (args.pool
          ? choosePoolOf(nats, args.pool).then((p) => [p])
          : allPools(nats)
        ).catch((err: unknown) => {
          throw err instanceof CliError ? err : natsFailed(natsUrl, err);
        });
        if (args.action && pools.length > 1) {
          throw usageError(
            `the relay has ${pools.length} pools: name one with --pool (${pools.map((p) => p.key).join(', ')})`,
          );
        }
        const redis = await connectCliRedis(redisUrl);
        try {
          if (args.action) {
            const pool = pools[0] as CompiledPool;
            const line = await act(args.action, pool, { nats, redis }, now());
            io.out(args.json ? JSON.stringify(line.json) : line.text);
            return 0;
          }
          for (const pool of pools) {
            const t = now();
            const view = await readQueueView({ redis, nats }, pool, t, {
              limit: args.limit,
              ...(args.domain ? { domain: args.domain } : {}),
            });
            if (args.json) io.out(JSON.stringify(view));
            else for (const line of formatQueueView(view, pool, t)) io.out(line);
          }
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

async function act(
  action: Action,
  pool: CompiledPool,
  deps: {
    nats: Awaited<ReturnType<typeof connectCliNats>>;
    redis: Awaited<ReturnType<typeof connectCliRedis>>;
  },
  now: number,
): Promise<{ text: string; json: object }> {
  const { nats, redis } = deps;
  const holds = createDestinationHolds(redis);
  const { domain } = action;
  const record = async (event: QueueActionEvent) => {
    await nats.js.publish(
      SUBJECTS.queueAction(pool.key, event.type),
      codecs.queueAction.encode(event),
    );
  };
  const base = { v: 1 as const, pool: pool.key, domain, at: now };
  if (action.kind === 'hold') {
    const fresh = await holds.hold(pool.key, domain, { at: now });
    if (fresh) await record({ ...base, type: 'held' });
    const since = (await holds.list(pool.key)).get(domain)?.at ?? now;
    return {
      text: fresh
        ? `held ${domain} in pool ${pool.key}: nothing is sent to it until --release ${domain}`
        : `${domain} is held already, since ${new Date(since).toISOString()}`,
      json: { pool: pool.key, domain, held: true, since, changed: fresh },
    };
  }
  if (action.kind === 'release') {
    const released = await holds.release(pool.key, domain);
    if (released) await record({ ...base, type: 'released' });
    return {
      text: released
        ? `released ${domain} in pool ${pool.key}: its mail goes again as it wakes (within a minute)`
        : `${domain} was not held in pool ${pool.key}`,
      json: { pool: pool.key, domain, held: false, changed: released },
    };
  }
  const flushed = await flushRetryWaits(
    { js: nats.js, jsm: nats.jsm, redis, events: createEventPublisher(nats.js, nats.nc) },
    pool.key,
    domain,
    now,
  );
  await record({ ...base, type: 'flushed', items: flushed.items });
  const held = await holds.isHeld(pool.key, domain);
  return {
    text:
      `flushed ${domain} in pool ${pool.key}: ${flushed.items} deferred items (${flushed.rcpts} recipients) are due now` +
      (held ? `; ${domain} is held, so they wait for --release ${domain}` : ''),
    json: { pool: pool.key, domain, ...flushed, held },
  };
}

/** Runs the command; returns the exit status. */
export function runQueueCli(argv: string[], io: CliIo, now?: () => number): Promise<number> {
  return runCommand(queueCommand(now), argv, io);
}
