/**
 * `hikyaku reputation`: where each sending IP of a pool stands with the reputation guard,
 * and a resume by hand, through the NATS KV bucket the scheduler writes
 * (core/src/ip-reputation.ts). What the RelayPool status shows in a cluster, without one.
 *
 *   hikyaku reputation list   --nats URL --pool POOL [--json]
 *   hikyaku reputation resume --nats URL --pool POOL IP...
 *
 * POOL is the pool key (namespace_name), namespace/name, or its name alone. Exit status as
 * every command (common.ts); an IP with no standing yet is 1.
 */
import { isIP } from 'node:net';
import { openReputationStore } from '@hikyaku/core';
import {
  type IpReputation,
  reputationCondition,
  resolveReputationSettings,
  resumeByHand,
} from '@hikyaku/core/policy';
import {
  type CliCommand,
  CliError,
  type CliIo,
  choosePoolOf,
  connectCliNats,
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

export const REPUTATION_USAGE = `usage: hikyaku reputation <list|resume> [--nats URL | --data-dir DIR] --pool POOL [IP...]

  list                show each IP's standing: Ok, Listed, PtrMismatch or Paused, and why
  resume IP...        resume paused IPs now (a cause they were paused for pauses again
                      only after it clears and comes back)

  --nats URL          NATS server (default: $NATS_URL, else the local mode running from
                      --data-dir, default .hikyaku, else nats://127.0.0.1:4222);
                      NATS_TOKEN or NATS_USER/NATS_PASSWORD from the environment
  --pool POOL         pool key (namespace_name), namespace/name, or its name alone
  --json              one JSON object per line
`;

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

interface ReputationArgs extends RelayOptions {
  dataDir: string;
  action: 'list' | 'resume';
  pool: string;
  ips: string[];
  json: boolean;
}

/** Without any other way to the relay, the NATS a machine runs by default. */
const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export const reputationCommand: CliCommand<ReputationArgs> = {
  name: 'reputation',
  usage: REPUTATION_USAGE,
  parse(argv) {
    const { values, positionals } = parseCommandLine(argv, {
      ...RELAY_OPTIONS.nats,
      ...RELAY_OPTIONS.dataDir,
      pool: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (values.help) return HELP;
    const [action, ...ips] = positionals;
    if (action === undefined) throw usageError('name an action: list or resume');
    if (action !== 'list' && action !== 'resume') throw usageError(`unknown action "${action}"`);
    if (!values.pool) throw usageError('--pool is required');
    if (action === 'list' && ips.length > 0) throw usageError('list takes no IPs');
    if (action === 'resume' && ips.length === 0) throw usageError('resume needs at least one IP');
    for (const ip of ips) if (isIP(ip) === 0) throw usageError(`"${ip}" is not an IP address`);
    return {
      action,
      ...relayOptionsOf(values),
      pool: values.pool,
      ips,
      json: values.json ?? false,
    };
  },
  async run({ action, ips, json, ...given }, io) {
    const natsUrl = await relayUrls(given, io, { nats: true, redis: false }).then(
      (urls) => urls.natsUrl,
      () => DEFAULT_NATS_URL,
    );
    const nats = await connectCliNats(natsUrl, 'reputation', io);
    try {
      const compiled = await choosePoolOf(nats, given.pool);
      const pool = compiled.key;
      const store = await openReputationStore(nats.js);
      if (action === 'list') {
        const states = await store.list(pool);
        if (states.length === 0) io.err(`no IP of pool ${pool} has been checked yet`);
        for (const s of states) io.out(json ? JSON.stringify(s) : describeReputation(s));
        return 0;
      }
      const settings = compiled.reputation ?? resolveReputationSettings(undefined);
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
      throw err instanceof CliError ? err : natsFailed(natsUrl, err);
    } finally {
      await nats.nc.close().catch(() => undefined);
    }
  },
};

/** Runs the command; returns the exit status. */
export function runReputationCli(argv: string[], io: CliIo): Promise<number> {
  return runCommand(reputationCommand, argv, io);
}
