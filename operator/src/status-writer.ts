/**
 * Writing a pool's status: the rows read from where the scheduler keeps its counters, the
 * conditions built from the last sync and the live StatefulSet, written only when something
 * changed, with an Event when Ready or Degraded turns.
 */

import type { CompiledPool, Logger, SourceAbsentReport } from '@hikyaku/core';
import { poolKey } from '@hikyaku/core';
import type { V1StatefulSet } from '@kubernetes/client-node';
import { buildIpRows, type IpCounters } from './desired/ip-rows.ts';
import { senderStatefulSetName } from './desired/statefulset.ts';
import { buildPoolStatus, conditionOf } from './desired/status.ts';
import { EVENT_REASONS, type PoolEvent } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { IpStatusRow, RelayPoolObject, RelayPoolStatus } from './kube/objects.ts';
import type { OperatorMetrics } from './metrics.ts';
import { sendersState } from './senders.ts';
import type { SyncResult } from './sync.ts';

/** Per-IP warm-up day, cap, sent today and state, as the scheduler enforces them. */
export type IpStatusReader = (pool: CompiledPool, now: number) => Promise<IpCounters[]>;

export interface StatusWriterDeps {
  client: KubeClient;
  live(namespace: string, name: string): V1StatefulSet | undefined;
  ipStatus?: IpStatusReader;
  /** Source addresses the pool's senders reported as not present on their pod. */
  absentSources?: (pool: string) => Promise<SourceAbsentReport[]>;
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
): Promise<IpStatusRow[]> {
  if (!compiled) {
    return pool.spec.ips.map((ip) => ({ address: ip.address, state: 'Unassigned' as const }));
  }
  let counters: IpCounters[] | undefined;
  if (deps.ipStatus) {
    try {
      counters = await deps.ipStatus(compiled, deps.now());
    } catch (err) {
      // The rows keep their last counters; Redis being away does not block the pool.
      deps.log.warn({ err, pool: compiled.key }, 'cannot read IP counters; keeping the last ones');
      const kept = new Map((previous?.ips ?? []).map((r) => [r.address, r]));
      return buildIpRows(compiled, undefined).map((row) => {
        const old = kept.get(row.address);
        const {
          address: _a,
          pod: _p,
          state: _s,
          ...counts
        } = old ?? { address: '', state: 'Active' };
        return { ...row, ...counts };
      });
    }
  }
  return buildIpRows(compiled, counters);
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
  const live = deps.live(namespace, senderStatefulSetName(name));
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
  const status = buildPoolStatus({
    generation,
    now: deps.now(),
    previous,
    ...(sync.problem ? { problem: sync.problem } : {}),
    senders: sendersState(live, sync.replicas),
    draining: sync.draining,
    unassignable: sync.unassignable,
    absentSources,
    rows: await rowsOf(deps, pool, sync.compiled, previous),
    totalIps: pool.spec.ips.length,
    sendersReadyTimeoutMs: deps.sendersReadyTimeoutMs,
  });
  deps.metrics.conditions(poolKey(namespace, name), status.conditions);
  deps.metrics.ipRows(poolKey(namespace, name), status.ips);
  if (sameStatus(status, previous)) return { status, events: [] };
  await deps.client.patchPoolStatus(namespace, name, status);
  return { status, events: transitionEvents(previous, status) };
}
