/**
 * When a deferred group is tried next, or that it expired: the pool's retry schedule and
 * maximum age applied to a job's attempt and age.
 */
import type { CompiledPool, Job } from '../../core/src/index.ts';

function nextRetry(i: {
  attempt: number;
  firstAttemptAt: number;
  now: number;
  schedule: number[];
  maxAge: number;
  rng: () => number;
}): RetryPlan {
  const step = i.schedule[Math.min(i.attempt, i.schedule.length - 1)] ?? 60_000;
  const at = i.now + step;
  return at > i.firstAttemptAt + i.maxAge ? { kind: 'expire' } : { kind: 'retry', at };
}

export type RetryPlan = { kind: 'retry'; at: number } | { kind: 'expire' };

const FALLBACK = {
  scheduleMs: [60_000, 300_000, 900_000, 3_600_000, 14_400_000],
  maxAgeMs: 72 * 3600_000,
};

export function planRetry(input: {
  job: Job;
  pool: CompiledPool | undefined;
  now: number;
  rng: () => number;
}): RetryPlan {
  const retry = input.pool?.retry ?? FALLBACK;
  return nextRetry({
    attempt: input.job.attempt,
    firstAttemptAt: input.job.receivedAt,
    now: input.now,
    schedule: retry.scheduleMs,
    maxAge: retry.maxAgeMs,
    rng: input.rng,
  });
}
