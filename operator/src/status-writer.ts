/**
 * Writing a pool's status: the rows read from where the scheduler keeps its counters, the
 * conditions built from the last sync and the live StatefulSet, written only when something
 * changed, with an Event when Ready or Degraded turns.
 */

import type {
  CompiledPool,
  ComplaintReport,
  Logger,
  SourceAbsentReport,
  SubmitterComplaintReport,
} from '@hikyaku/core';
import { poolKey } from '@hikyaku/core';
import type { IpReputation } from '@hikyaku/core/policy';
import type { V1StatefulSet } from '@kubernetes/client-node';
import { buildIpRows, type IpCounters } from './desired/ip-rows.ts';
import { senderStatefulSetName } from './desired/statefulset.ts';
import { buildPoolStatus, conditionOf, type SendersState } from './desired/status.ts';
import { EVENT_REASONS, type PoolEvent } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { IpStatusRow, RelayPoolObject, RelayPoolStatus } from './kube/objects.ts';
import type { OperatorMetrics } from './metrics.ts';
import { reputationEvents } from './reputation.ts';
import { sendersState, slotsState } from './senders.ts';
import type { SyncResult } from './sync.ts';

/** Per-IP warm-up day, cap, sent today and state, as the scheduler enforces them. */
export type IpStatusReader = (pool: CompiledPool, now: number) => Promise<IpCounters[]>;

export interface StatusWriterDeps {
  client: KubeClient;
  live(namespace: string, name: string): V1StatefulSet | undefined;
  /** The pool's own sender StatefulSets, the pool-wide one and its slots. */
  poolLive(pool: RelayPoolObject): V1StatefulSet[];
  ipStatus?: IpStatusReader;
  /** Source addresses the pool's senders reported as not present on their pod. */
  absentSources?: (pool: string) => Promise<SourceAbsentReport[]>;
  /** Each IP's standing with the reputation guard (NATS KV). */
  reputation?: (pool: string) => Promise<IpReputation[]>;
  /** Sender domains the scheduler reported over their complaint guard's lines. */
  complaints?: (pool: string) => Promise<ComplaintReport[]>;
  /** Submitters the scheduler reported over their complaint guard's lines. */
  submitterComplaints?: (pool: string) => Promise<SubmitterComplaintReport[]>;
  metrics: OperatorMetrics;
  log: Logger;
  sendersReadyTimeoutMs: number;
  now(): number;
}

/** JSON equality of two statuses (key order aside). */
function sameStatus(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(
        Object.keys(v)
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

async function rowsOf(
  deps: StatusWriterDeps,
  pool: RelayPoolObject,
  compiled: CompiledPool | undefined,
  previous: Partial<RelayPoolStatus> | undefined,
): Promise<{ rows: IpStatusRow[]; redisError?: string }> {
  if (!compiled) {
    return {
      rows: pool.spec.ips.map((ip) => ({ address: ip.address, state: 'Unassigned' as const })),
    };
  }
  const { rows, redisError } = await counterRows(deps, compiled, previous);
  const result = (r: IpStatusRow[]) => ({
    rows: r,
    ...(redisError !== undefined ? { redisError } : {}),
  });
  if (!deps.reputation) return result(rows);
  try {
    const standing = await deps.reputation(compiled.key);
    return result(
      buildIpRows(compiled, undefined, standing).map((r, i) => ({
        ...(rows[i] as IpStatusRow),
        ...(r.state === 'Paused' && rows[i]?.state !== 'Unassigned' ? { state: r.state } : {}),
        ...(r.reputation ? { reputation: r.reputation } : {}),
      })),
    );
  } catch (err) {
    // NATS being away does not block the pool: the rows keep what they last showed.
    deps.log.warn({ err, pool: compiled.key }, 'cannot read the IP reputation; keeping the last');
    const kept = new Map((previous?.ips ?? []).map((r) => [r.address, r]));
    return result(
      rows.map((row) => {
        const old = kept.get(row.address);
        return old?.reputation
          ? {
              ...row,
              state: old.state === 'Paused' ? 'Paused' : row.state,
              reputation: old.reputation,
            }
          : row;
      }),
    );
  }
}

async function counterRows(
  deps: StatusWriterDeps,
  compiled: CompiledPool,
  previous: Partial<RelayPoolStatus> | undefined,
): Promise<{ rows: IpStatusRow[]; redisError?: string }> {
  let counters: IpCounters[] | undefined;
  if (deps.ipStatus) {
    try {
      counters = await deps.ipStatus(compiled, deps.now());
    } catch (err) {
      // The rows keep their last counters; Redis being away does not block the pool.
      deps.log.warn({ err, pool: compiled.key }, 'cannot read IP counters; keeping the last ones');
      const kept = new Map((previous?.ips ?? []).map((r) => [r.address, r]));
      const rows = buildIpRows(compiled, undefined).map((row) => {
        const old = kept.get(row.address);
        const {
          address: _a,
          pod: _p,
          state: _s,
          reputation: _r,
          ...counts
        } = old ?? { address: '', state: 'Active' };
        return { ...row, ...counts };
      });
      return { rows, redisError: err instanceof Error ? err.message : String(err) };
    }
  }
  return { rows: buildIpRows(compiled, counters) };
}

function transitionEvents(
  before: Partial<RelayPoolStatus> | undefined,
  after: RelayPoolStatus,
): PoolEvent[] {
  const events: PoolEvent[] = [];
  const readyBefore = conditionOf(before, 'Ready');
  const ready = conditionOf(after, 'Ready')!;
  const changed = readyBefore?.status !== ready.status || readyBefore?.reason !== ready.reason;
  if (changed && ready.status === 'True') {
    events.push({
      type: 'Normal',
      reason: EVENT_REASONS.Ready,
      action: 'Reconcile',
      note: ready.message,
    });
  } else if (changed && (readyBefore !== undefined || ready.reason !== 'SendersNotReady')) {
    // A new pool's senders are not ready at first: that is no news.
    events.push({
      type: 'Warning',
      reason: ready.reason,
      action: 'Reconcile',
      note: ready.message,
    });
  }
  const degradedBefore = conditionOf(before, 'Degraded');
  const degraded = conditionOf(after, 'Degraded')!;
  const newlyDegraded =
    degraded.status === 'True' &&
    (degradedBefore?.status !== 'True' || degradedBefore.reason !== degraded.reason);
  if (newlyDegraded && degraded.reason !== ready.reason) {
    events.push({
      type: 'Warning',
      reason: degraded.reason,
      action: 'Reconcile',
      note: degraded.message,
    });
  }
  return events;
}

/**
 * Computes the status and writes it if it differs from `previous`; returns the status and
 * the Events its transitions call for.
 */
export async function writeStatus(
  deps: StatusWriterDeps,
  pool: RelayPoolObject,
  sync: SyncResult,
  previous: Partial<RelayPoolStatus> | undefined,
): Promise<{ status: RelayPoolStatus; events: PoolEvent[] }> {
  const { namespace, name, generation } = pool.metadata;
  let senders: SendersState | undefined;
  if (sync.slotStatefulSets) {
    senders = slotsState(sync.slotStatefulSets.map((n) => deps.live(namespace, n)));
  } else if (pool.spec.egress) {
    // Blocked before the slots were planned: whatever slots run now.
    const slots = deps
      .poolLive(pool)
      .filter((s) => s.metadata?.name !== senderStatefulSetName(name));
    senders = slots.length > 0 ? slotsState(slots) : undefined;
  } else {
    senders = sendersState(deps.live(namespace, senderStatefulSetName(name)), sync.replicas);
  }
  let absentSources: SourceAbsentReport[] = [];
  if (deps.absentSources && sync.compiled) {
    try {
      const assigned = new Set(sync.compiled.ips.map((ip) => ip.address));
      absentSources = (await deps.absentSources(sync.compiled.key)).filter((r) =>
        assigned.has(r.address),
      );
    } catch (err) {
      deps.log.warn({ err, pool: sync.compiled.key }, "cannot read the senders' reports");
    }
  }
  let complaints: ComplaintReport[] = [];
  let submitterComplaints: SubmitterComplaintReport[] = [];
  if (deps.complaints && sync.compiled?.feedback) {
    try {
      complaints = await deps.complaints(sync.compiled.key);
      submitterComplaints = (await deps.submitterComplaints?.(sync.compiled.key)) ?? [];
    } catch (err) {
      deps.log.warn({ err, pool: sync.compiled.key }, "cannot read the scheduler's reports");
    }
  }
  const { rows, redisError } = await rowsOf(deps, pool, sync.compiled, previous);
  const status = buildPoolStatus({
    generation,
    now: deps.now(),
    previous,
    ...(sync.problem ? { problem: sync.problem } : {}),
    ...(senders ? { senders } : {}),
    nodeUnavailable: sync.nodeUnavailable ?? [],
    draining: sync.draining,
    unassignable: sync.unassignable,
    absentSources,
    complaints,
    submitterComplaints,
    rows,
    ...(redisError !== undefined ? { redisUnreachable: redisError } : {}),
    totalIps: pool.spec.ips.length,
    sendersReadyTimeoutMs: deps.sendersReadyTimeoutMs,
  });
  deps.metrics.conditions(poolKey(namespace, name), status.conditions);
  deps.metrics.ipRows(poolKey(namespace, name), status.ips);
  if (sameStatus(status, previous)) return { status, events: [] };
  await deps.client.patchPoolStatus(namespace, name, status);
  return {
    status,
    events: [...transitionEvents(previous, status), ...reputationEvents(previous?.ips, status.ips)],
  };
}
