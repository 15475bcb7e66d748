/**
 * The complaint guard's periodic review: every sweep, the sender domains and submitters
 * over the warning line or held are judged again (delivered mail brings a rate down), their
 * gauges set, dropped when they are back to normal, and reported in NATS KV for the pool's
 * status.
 */
import type { CompiledPool, ComplaintReport, SourceReports } from '@hikyaku/core';
import type { Gauge } from 'prom-client';
import type { Clock } from './clock.ts';
import type { ComplaintHolds } from './complaint-holds.ts';
import type { SchedulerMetrics } from './metrics.ts';

/** The level gauge's values: 0 ok, 1 over warnRate, 2 over stopRate (or held). */
export const COMPLAINT_LEVELS = { ok: 0, warn: 1, stop: 2 } as const;

interface Gauges<L extends string> {
  rate: Gauge<L>;
  level: Gauge<L>;
}

/** One scope's review: which names it showed last, to drop their series when they leave. */
function scopeReview<L extends 'pool' | 'sender_domain' | 'submitter'>(
  holds: ComplaintHolds,
  gauges: Gauges<L>,
  labelsOf: (pool: string, name: string) => Partial<Record<L, string>>,
) {
  const shown = new Map<string, Set<string>>();
  return async (pool: CompiledPool, now: number): Promise<ComplaintReport[]> => {
    const found = await holds.review(pool, now);
    const names = new Set(found.map((r) => r.domain));
    for (const name of shown.get(pool.key) ?? []) {
      if (names.has(name)) continue;
      // Back under the warning line: its series go until its next complaint.
      gauges.rate.remove(labelsOf(pool.key, name));
      gauges.level.remove(labelsOf(pool.key, name));
    }
    shown.set(pool.key, names);
    for (const r of found) {
      gauges.rate.set(labelsOf(pool.key, r.domain), r.rate);
      gauges.level.set(labelsOf(pool.key, r.domain), COMPLAINT_LEVELS[r.level]);
    }
    return found;
  };
}

export function createComplaintReview(deps: {
  holds: ComplaintHolds;
  submitterHolds: ComplaintHolds;
  metrics: SchedulerMetrics;
  reports: SourceReports;
  clock: Clock;
}) {
  const domains = scopeReview(
    deps.holds,
    { rate: deps.metrics.complaintRate, level: deps.metrics.complaintLevel },
    (pool, name) => ({ pool, sender_domain: name }),
  );
  const submitters = scopeReview(
    deps.submitterHolds,
    { rate: deps.metrics.submitterComplaintRate, level: deps.metrics.submitterComplaintLevel },
    (pool, name) => ({ pool, submitter: name }),
  );
  return async function reviewComplaints(pool: CompiledPool): Promise<void> {
    const now = deps.clock.now();
    await deps.reports.syncComplaints(pool.key, await domains(pool, now));
    const bySubmitter = await submitters(pool, now);
    await deps.reports.syncSubmitterComplaints(
      pool.key,
      bySubmitter.map(({ domain, ...rest }) => ({ submitter: domain, ...rest })),
    );
  };
}
