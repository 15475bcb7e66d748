/**
 * When a deferred group is tried next, or that it expired: the pool's retry schedule and
 * maximum age applied to a job's attempt and age.
 */
import type { CompiledPool, Job } from '@hikyaku/core';
import { nextRetry, type RetryDecision } from '@hikyaku/core/policy';

export function planRetry(input: {
  job: Job;
  pool: CompiledPool | undefined;
  now: number;
  rng: () => number;
}): RetryDecision {
  return nextRetry({
    // Job attempts count from 0; the policy counts attempts made, this one included.
    attempt: input.job.attempt + 1,
    firstAttemptAt: input.job.delivery.receivedAt,
    now: input.now,
    rng: input.rng,
    ...(input.pool
      ? { schedule: input.pool.retry.scheduleMs, maxAge: input.pool.retry.maxAgeMs }
      : {}),
  });
}
