/**
 * The operator's metrics, for the chart's alerts and dashboard: reconcile outcomes, the
 * queue, each pool's conditions, each IP's warm-up day, cap and count from the status rows,
 * leadership and watch restarts. Labels are bounded: pool (its key), ip (the pool's own
 * addresses), condition, status, reason (the fixed set in errors.ts), result, resource.
 */

import { METRICS } from '@hikyaku/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { IpStatusRow, PoolCondition } from './kube/objects.ts';
import type { QueueOutcome } from './queue.ts';

const STATUSES = ['True', 'False', 'Unknown'] as const;
const CONDITIONS = ['Ready', 'Progressing', 'Degraded'] as const;

export interface OperatorMetrics {
  reconciled(outcome: QueueOutcome, seconds: number): void;
  queueDepth(depth: number): void;
  /**
   * One series per condition and status: 1 for the status the condition has (labelled with
   * its reason), 0 for the others (reason "").
   */
  conditions(pool: string, conditions: readonly PoolCondition[]): void;
  ipRows(pool: string, rows: readonly IpStatusRow[]): void;
  forgetPool(pool: string): void;
  leader(isLeader: boolean): void;
  watchRestart(resource: string, reason: string): void;
  eventFailed(): void;
}

export function createOperatorMetrics(registry: Registry): OperatorMetrics {
  const registers = [registry];
  const reconciles = new Counter({
    name: METRICS.operatorReconciles,
    help: 'Reconciles of a RelayPool by result (success, skipped, requeue, error)',
    labelNames: ['result'],
    registers,
  });
  const duration = new Histogram({
    name: METRICS.operatorReconcileDuration,
    help: 'Duration of one RelayPool reconcile',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const depth = new Gauge({
    name: METRICS.operatorQueueDepth,
    help: 'RelayPools waiting to be reconciled',
    registers,
  });
  const condition = new Gauge({
    name: METRICS.operatorPoolCondition,
    help: 'RelayPool conditions: 1 for the status a condition has (with its reason), 0 for the others',
    labelNames: ['pool', 'condition', 'status', 'reason'],
    registers,
  });
  const ipGauge = (name: string, help: string) =>
    new Gauge({ name, help, labelNames: ['pool', 'ip'], registers });
  const warmupDay = ipGauge(
    METRICS.operatorIpWarmupDay,
    'Warm-up day of a warming IP, as the scheduler enforces it (absent for warm IPs)',
  );
  const dailyLimit = ipGauge(
    METRICS.operatorIpDailyLimit,
    "Today's cap of a warming IP (absent for IPs without a cap)",
  );
  const sentToday = ipGauge(METRICS.operatorIpSentToday, 'Messages sent from an IP today');
  const leader = new Gauge({
    name: METRICS.operatorIsLeader,
    help: '1 while this replica holds the leader Lease and reconciles',
    registers,
  });
  const restarts = new Counter({
    name: METRICS.operatorWatchRestarts,
    help: 'Watch streams restarted, by resource and reason (closed, expired, watchdog, error, resync)',
    labelNames: ['resource', 'reason'],
    registers,
  });
  const eventFailures = new Counter({
    name: METRICS.operatorEventFailures,
    help: 'Kubernetes Events the operator could not record',
    registers,
  });
  leader.set(0);

  /** Label sets set last, per pool, so that a series that no longer applies is removed. */
  const conditionLabels = new Map<string, Record<string, string>[]>();
  const ipLabels = new Map<string, string[]>();

  const forgetIps = (pool: string) => {
    for (const ip of ipLabels.get(pool) ?? []) {
      for (const g of [warmupDay, dailyLimit, sentToday]) g.remove({ pool, ip });
    }
  };

  return {
    reconciled(outcome, seconds) {
      reconciles.inc({ result: outcome });
      duration.observe(seconds);
    },
    queueDepth: (n) => depth.set(n),
    conditions(pool, list) {
      for (const labels of conditionLabels.get(pool) ?? []) condition.remove(labels);
      const set: Record<string, string>[] = [];
      for (const type of CONDITIONS) {
        const current = list.find((c) => c.type === type);
        for (const status of STATUSES) {
          const on = (current?.status ?? 'Unknown') === status;
          const labels = {
            pool,
            condition: type,
            status,
            reason: on ? (current?.reason ?? '') : '',
          };
          condition.set(labels, on ? 1 : 0);
          set.push(labels);
        }
      }
      conditionLabels.set(pool, set);
    },
    ipRows(pool, rows) {
      forgetIps(pool);
      for (const row of rows) {
        const labels = { pool, ip: row.address };
        if (row.warmupDay !== undefined) warmupDay.set(labels, row.warmupDay);
        if (row.dailyLimit !== undefined) dailyLimit.set(labels, row.dailyLimit);
        if (row.sentToday !== undefined) sentToday.set(labels, row.sentToday);
      }
      ipLabels.set(
        pool,
        rows.map((r) => r.address),
      );
    },
    forgetPool(pool) {
      for (const labels of conditionLabels.get(pool) ?? []) condition.remove(labels);
      conditionLabels.delete(pool);
      forgetIps(pool);
      ipLabels.delete(pool);
    },
    leader: (is) => leader.set(is ? 1 : 0),
    watchRestart: (resource, reason) => restarts.inc({ resource, reason }),
    eventFailed: () => eventFailures.inc(),
  };
}
