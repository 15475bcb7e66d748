/**
 * `hikyaku reputation`: where each sending IP of a pool stands with the reputation guard,
 * and a resume by hand, through the NATS KV bucket the scheduler writes
 * (core/src/ip-reputation.ts). What the RelayPool status shows in a cluster, without one.
 *
 *   hikyaku reputation list   --nats URL --pool POOL [--json]
 *   hikyaku reputation resume --nats URL --pool POOL IP...
 *
 * POOL is the pool key (namespace_name) or namespace/name. Exit status: 0 done, 1 NATS
 * failed or an IP has no standing yet, 2 the command line is wrong.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import {
  type CompiledPool,
  connectNats,
  KV_KEYS,
  type NatsHandles,
  openPoolBucket,
  openReputationStore,
  poolKey,
} from '@hikyaku/core';
import {
  type IpReputation,
  reputationCondition,
  resolveReputationSettings,
  resumeByHand,
} from '@hikyaku/core/policy';
import type { CliIo } from './trace.ts';

export const REPUTATION_USAGE = `usage: hikyaku reputation <list|resume> --nats URL --pool POOL [IP...]

  list                show each IP's standing: Ok, Listed, PtrMismatch or Paused, and why
  resume IP...        resume paused IPs now (a cause they were paused for pauses again
                      only after it clears and comes back)

  --nats URL          NATS server (default: $NATS_URL, then nats://127.0.0.1:4222);
                      NATS_TOKEN or NATS_USER/NATS_PASSWORD from the environment
  --pool POOL         pool key (namespace_name) or namespace/name
  --json              one JSON object per line
`;

class UsageError extends Error {}

function poolOf(value: string): string {
  const slash = value.indexOf('/');
  return slash < 0 ? value : poolKey(value.slice(0, slash), value.slice(slash + 1));
}

/** One line of `list`: address, condition, then what explains it. */
export function describeReputation(state: IpReputation): string {
  const parts = [state.address, reputationCondition(state)];
  if (state.paused) {
    parts.push(`${state.paused.reason} since ${new Date(state.paused.since).toISOString()}`);
    parts.push(state.paused.detail);
    if (state.clearedAt !== undefined) {
      parts.push(`cleared ${new Date(state.clearedAt).toISOString()}, resumes after the cool-down`);
    }
  } else {
    for (const l of state.listings) parts.push(`listed on ${l.zone}: ${l.meaning}`);
    if (state.ptr?.verdict === 'mismatch') parts.push(state.ptr.detail);
  }
  for (const u of state.unknown) parts.push(`${u.zone} unknown: ${u.why}`);
  const r = state.receivers;
  if (r && r.attempted > 0) {
    parts.push(
      `receivers: ${r.blocked} of ${r.attempted} refused for reputation or policy, ${r.hard} hard bounces, ${r.throttled} throttled`,
    );
  }
  return parts.join('\t');
}

function parse(argv: string[], io: CliIo) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      nats: { type: 'string' },
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help' as const;
  const [action, ...ips] = positionals;
  if (action === undefined) throw new UsageError('name an action: list or resume');
  if (action !== 'list' && action !== 'resume') throw new UsageError(`unknown action "${action}"`);
  if (!values.pool) throw new UsageError('--pool is required');
  if (action === 'list' && ips.length > 0) throw new UsageError('list takes no IPs');
  if (action === 'resume' && ips.length === 0) throw new UsageError('resume needs at least one IP');
  for (const ip of ips) if (isIP(ip) === 0) throw new UsageError(`"${ip}" is not an IP address`);
  return {
    action,
    natsUrl: values.nats ?? io.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    pool: poolOf(values.pool),
    ips,
    json: values.json ?? false,
  };
}

/** Runs the command; returns the exit status. */
export async function runReputationCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv, io);
  } catch (err) {
    io.err(`hikyaku reputation: ${(err as Error).message}`);
    io.err(REPUTATION_USAGE);
    return 2;
  }
  if (parsed === 'help') {
    io.out(REPUTATION_USAGE);
    return 0;
  }
  const { action, natsUrl, pool, ips, json } = parsed;
  let nats: NatsHandles | undefined;
  try {
    nats = await connectNats({
      url: natsUrl,
      name: 'hikyaku-reputation-cli',
      maxReconnectAttempts: 0,
      credentials: {
        ...(io.env.NATS_TOKEN ? { token: io.env.NATS_TOKEN } : {}),
        ...(io.env.NATS_USER ? { user: io.env.NATS_USER, pass: io.env.NATS_PASSWORD ?? '' } : {}),
      },
    });
    const store = await openReputationStore(nats.js);
    if (action === 'list') {
      const states = await store.list(pool);
      if (states.length === 0) io.err(`no IP of pool ${pool} has been checked yet`);
      for (const s of states) io.out(json ? JSON.stringify(s) : describeReputation(s));
      return 0;
    }
    const entry = await (await openPoolBucket(nats.js)).get(KV_KEYS.pool(pool));
    const compiled = entry?.operation === 'PUT' ? entry.json<CompiledPool>() : undefined;
    const settings = compiled?.reputation ?? resolveReputationSettings(undefined);
    let status = 0;
    for (const ip of ips) {
      const now = Date.now();
      const next = await store.update(pool, ip, (state) =>
        state ? resumeByHand(state, settings, now) : undefined,
      );
      if (!next) {
        io.err(`hikyaku reputation: ${ip} has no standing in pool ${pool} (not checked yet?)`);
        status = 1;
        continue;
      }
      io.out(json ? JSON.stringify(next) : `resumed ${ip}`);
    }
    return status;
  } catch (err) {
    io.err(
      `hikyaku reputation: [HIKYAKU_NATS_UNAVAILABLE] NATS at ${natsUrl} failed: ${(err as Error).message}`,
    );
    return 1;
  } finally {
    await nats?.nc.close();
  }
}
