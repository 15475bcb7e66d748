/**
 * When to try a deferred recipient again, and when to give up. A pure function of the
 * attempt count and the message's age, in the manner of KumoMTA's retry policy: the n-th
 * retry waits schedule[n-1], the last entry repeats, and every wait is spread by a random
 * ±jitter so that a destination that failed thousands of messages at once is not hit by
 * thousands of retries at once.
 */

import type { RetrySpec } from '../pool/spec.ts';
import { durationOr, HOUR, MINUTE, parseDuration } from './duration.ts';
import { BadRetryPolicyError, PolicyArgumentError } from './errors.ts';

export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [
  1 * MINUTE,
  5 * MINUTE,
  15 * MINUTE,
  1 * HOUR,
  4 * HOUR,
];
export const DEFAULT_MAX_AGE = 72 * HOUR;
/** ±10%: a 4h wait becomes anything from 3h36m to 4h24m. */
export const DEFAULT_RETRY_JITTER = 0.1;
/** RFC 3463 "delivery time expired": the status of a recipient given up on at max age. */
export const EXPIRED_STATUS = '4.4.7';

export interface RetryPolicy {
  /** Waits in ms before retry 1, 2, ...; the last one repeats. */
  readonly schedule: readonly number[];
  /** ms after firstAttemptAt past which no attempt is made. */
  readonly maxAge: number;
  /** Fraction each wait is spread by, in [0, 1). */
  readonly jitter: number;
}

export interface NextRetryInput {
  /** Attempts made so far, the one that just failed included (1 after the first failure). */
  attempt: number;
  /** Epoch ms the message's age counts from (its acceptance or first attempt). */
  firstAttemptAt: number;
  now: number;
  /** Returns a number in [0, 1), like Math.random. */
  rng: () => number;
  schedule?: readonly number[];
  maxAge?: number;
  jitter?: number;
}

export type RetryDecision =
  /** `last`: `at` is the max-age deadline itself, so the next failure expires. */
  | { kind: 'retry'; at: number; last: boolean }
  /** Give up: the recipient bounces with EXPIRED_STATUS. */
  | { kind: 'expire'; deadline: number };

/** The pool's retry spec with defaults filled and durations parsed; throws on bad values. */
export function resolveRetryPolicy(spec: RetrySpec = {}): RetryPolicy {
  const schedule =
    spec.schedule === undefined
      ? DEFAULT_RETRY_SCHEDULE
      : spec.schedule.map((d, i) => parseDuration(d, `retry.schedule[${i}]`));
  const maxAge = durationOr(spec.maxAge, DEFAULT_MAX_AGE, 'retry.maxAge');
  return checkedPolicy({ schedule, maxAge, jitter: DEFAULT_RETRY_JITTER });
}

/**
 * The next step for a recipient whose attempt just failed temporarily. A wait that would
 * land past the max-age deadline is moved onto the deadline, so the message gets one last
 * try at exactly its maximum age and is never tried after it; once the deadline has been
 * reached, the answer is expire.
 */
export function nextRetry(input: NextRetryInput): RetryDecision {
  const policy = checkedPolicy({
    schedule: input.schedule ?? DEFAULT_RETRY_SCHEDULE,
    maxAge: input.maxAge ?? DEFAULT_MAX_AGE,
    jitter: input.jitter ?? DEFAULT_RETRY_JITTER,
  });
  const { attempt, firstAttemptAt, now } = input;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new PolicyArgumentError(`attempt must be a whole number >= 1, got ${attempt}`);
  }
  if (!Number.isFinite(firstAttemptAt) || !Number.isFinite(now)) {
    throw new PolicyArgumentError('firstAttemptAt and now must be epoch milliseconds');
  }
  const deadline = firstAttemptAt + policy.maxAge;
  if (now >= deadline) return { kind: 'expire', deadline };

  const index = Math.min(attempt, policy.schedule.length) - 1;
  const wait = policy.schedule[index] as number;
  const r = input.rng();
  if (!(r >= 0 && r < 1)) {
    throw new PolicyArgumentError(`rng must return a number in [0, 1), got ${r}`);
  }
  const spread = 1 + policy.jitter * (2 * r - 1);
  const at = now + Math.round(wait * spread);
  return at >= deadline
    ? { kind: 'retry', at: deadline, last: true }
    : { kind: 'retry', at, last: false };
}

function checkedPolicy(policy: RetryPolicy): RetryPolicy {
  if (policy.schedule.length === 0) {
    throw new BadRetryPolicyError('retry.schedule is empty; give at least one wait (e.g. [5m])');
  }
  policy.schedule.forEach((wait, i) => {
    if (!Number.isFinite(wait) || wait <= 0) {
      throw new BadRetryPolicyError(`retry.schedule[${i}] must be longer than zero`);
    }
  });
  if (!Number.isFinite(policy.maxAge) || policy.maxAge <= 0) {
    throw new BadRetryPolicyError('retry.maxAge must be longer than zero');
  }
  if (!(policy.jitter >= 0 && policy.jitter < 1)) {
    throw new BadRetryPolicyError(`jitter must be in [0, 1), got ${policy.jitter}`);
  }
  return Object.freeze({ ...policy, schedule: Object.freeze([...policy.schedule]) });
}
