import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOUR, MINUTE } from './duration.ts';
import { BadDurationError, PolicyError } from './errors.ts';
import {
  DEFAULT_MAX_AGE,
  DEFAULT_RETRY_SCHEDULE,
  nextRetry,
  type RetryDecision,
  resolveRetryPolicy,
} from './retry.ts';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const middle = () => 0.5; // no jitter: 1 + 0.1 * (2 * 0.5 - 1) = 1

function at(decision: RetryDecision): number {
  assert.equal(decision.kind, 'retry');
  return decision.kind === 'retry' ? decision.at : Number.NaN;
}

test('the default schedule: 1m, 5m, 15m, 1h, 4h, then every 4h', () => {
  const waits = [1, 2, 3, 4, 5, 6, 7, 20].map(
    (attempt) => at(nextRetry({ attempt, firstAttemptAt: T0, now: T0, rng: middle })) - T0,
  );
  assert.deepEqual(waits, [
    1 * MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    1 * HOUR,
    4 * HOUR,
    4 * HOUR,
    4 * HOUR,
    4 * HOUR,
  ]);
});

test('jitter spreads a wait by up to ±10% by default, driven only by rng', () => {
  const wait = (r: number) =>
    at(nextRetry({ attempt: 5, firstAttemptAt: T0, now: T0, rng: () => r })) - T0;
  assert.equal(wait(0), 4 * HOUR * 0.9);
  assert.equal(wait(0.25), 4 * HOUR * 0.95);
  assert.ok(Math.abs(wait(0.999999) - 4 * HOUR * 1.1) < 10);
  assert.equal(wait(0.3), wait(0.3), 'same rng, same answer');
});

test('jitter can be changed or turned off', () => {
  const input = { attempt: 1, firstAttemptAt: T0, now: T0, rng: () => 0 };
  assert.equal(at(nextRetry({ ...input, jitter: 0 })), T0 + MINUTE);
  assert.equal(at(nextRetry({ ...input, jitter: 0.5 })), T0 + MINUTE / 2);
});

test('a wait that would pass max age is moved onto the deadline and marked last', () => {
  const deadline = T0 + DEFAULT_MAX_AGE;
  const now = deadline - HOUR; // a 4h wait would overshoot
  const decision = nextRetry({ attempt: 9, firstAttemptAt: T0, now, rng: middle });
  assert.deepEqual(decision, { kind: 'retry', at: deadline, last: true });
  const early = nextRetry({ attempt: 9, firstAttemptAt: T0, now: T0, rng: middle });
  assert.equal(early.kind === 'retry' && early.last, false);
});

test('once the deadline is reached the message expires', () => {
  const deadline = T0 + DEFAULT_MAX_AGE;
  for (const now of [deadline, deadline + 1, deadline + 10 * HOUR]) {
    assert.deepEqual(nextRetry({ attempt: 30, firstAttemptAt: T0, now, rng: middle }), {
      kind: 'expire',
      deadline,
    });
  }
});

test('a whole 72h life: never an attempt after max age, and the last one at it', () => {
  let now = T0;
  let attempt = 1;
  const attempts: number[] = [now];
  let r = 0.17;
  const rng = () => {
    r = (r * 7.31) % 1; // deterministic, spread over [0, 1)
    return r;
  };
  for (;;) {
    const decision = nextRetry({ attempt, firstAttemptAt: T0, now, rng });
    if (decision.kind === 'expire') break;
    assert.ok(decision.at > now);
    now = decision.at;
    attempts.push(now);
    attempt += 1;
  }
  assert.ok(attempts.every((t) => t <= T0 + DEFAULT_MAX_AGE));
  assert.equal(attempts.at(-1), T0 + DEFAULT_MAX_AGE);
  // 5 scheduled waits reach ~5h21m; the remaining ~66h39m take 16-17 waits of 4h ± 10%.
  assert.ok(attempts.length >= 21 && attempts.length <= 25, `${attempts.length} attempts`);
});

test('a custom schedule and max age', () => {
  const input = { firstAttemptAt: T0, now: T0, rng: middle, schedule: [30_000], maxAge: HOUR };
  assert.equal(at(nextRetry({ ...input, attempt: 1 })), T0 + 30_000);
  assert.equal(at(nextRetry({ ...input, attempt: 50 })), T0 + 30_000);
});

test('bad arguments are refused with a coded error', () => {
  const ok = { attempt: 1, firstAttemptAt: T0, now: T0, rng: middle };
  const code = (c: string) => (error: unknown) => error instanceof PolicyError && error.code === c;
  assert.throws(() => nextRetry({ ...ok, attempt: 0 }), code('HIKYAKU_BAD_POLICY_ARGUMENT'));
  assert.throws(() => nextRetry({ ...ok, attempt: 1.5 }), code('HIKYAKU_BAD_POLICY_ARGUMENT'));
  assert.throws(() => nextRetry({ ...ok, rng: () => 1 }), code('HIKYAKU_BAD_POLICY_ARGUMENT'));
  assert.throws(() => nextRetry({ ...ok, now: Number.NaN }), code('HIKYAKU_BAD_POLICY_ARGUMENT'));
  assert.throws(() => nextRetry({ ...ok, schedule: [] }), code('HIKYAKU_BAD_RETRY_POLICY'));
  assert.throws(() => nextRetry({ ...ok, schedule: [0] }), code('HIKYAKU_BAD_RETRY_POLICY'));
  assert.throws(() => nextRetry({ ...ok, maxAge: 0 }), code('HIKYAKU_BAD_RETRY_POLICY'));
  assert.throws(() => nextRetry({ ...ok, jitter: 1 }), code('HIKYAKU_BAD_RETRY_POLICY'));
});

test('resolveRetryPolicy fills defaults and parses the spec durations', () => {
  assert.deepEqual(resolveRetryPolicy(), {
    schedule: DEFAULT_RETRY_SCHEDULE,
    maxAge: DEFAULT_MAX_AGE,
    jitter: 0.1,
  });
  const policy = resolveRetryPolicy({ schedule: ['1m', '1h30m'], maxAge: '5d' });
  assert.deepEqual(policy.schedule, [MINUTE, 90 * MINUTE]);
  assert.equal(policy.maxAge, 120 * HOUR);
  assert.ok(Object.isFrozen(policy) && Object.isFrozen(policy.schedule));
});

test('resolveRetryPolicy names the bad field', () => {
  assert.throws(
    () => resolveRetryPolicy({ schedule: ['1m', '5 minutes'] }),
    (error: unknown) =>
      error instanceof BadDurationError && error.message.startsWith('retry.schedule[1]:'),
  );
  assert.throws(() => resolveRetryPolicy({ maxAge: '3' }), /retry\.maxAge: bad duration "3"/);
  assert.throws(() => resolveRetryPolicy({ schedule: [] }), /retry\.schedule is empty/);
});
