import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOUR, MINUTE } from './duration.ts';
import { PolicyError } from './errors.ts';
import {
  currentFactor,
  effectiveRate,
  isThrottleState,
  MIN_THROTTLE_FACTOR,
  onThrottleSignal,
  resolveThrottleSettings,
  type ThrottleState,
  throttleSettledAt,
  throttleStatus,
} from './throttle.ts';

const T0 = Date.UTC(2026, 10, 1, 9);
const DEFAULTS = resolveThrottleSettings();

test('defaults: pause 10m, factor 0.5, recover after 1h', () => {
  assert.deepEqual(DEFAULTS, { pause: 10 * MINUTE, factor: 0.5, recoverAfter: HOUR });
  assert.deepEqual(resolveThrottleSettings({ pause: '30s', factor: 0.25, recoverAfter: '2h' }), {
    pause: 30_000,
    factor: 0.25,
    recoverAfter: 2 * HOUR,
  });
});

test('bad settings are refused naming the field', () => {
  const bad = (c: string, m: RegExp) => (error: unknown) =>
    error instanceof PolicyError && error.code === c && m.test(error.message);
  assert.throws(
    () => resolveThrottleSettings({ factor: 1 }, 'ratePolicies[docomo].onThrottle'),
    bad('HIKYAKU_BAD_THROTTLE', /ratePolicies\[docomo\]\.onThrottle\.factor must be/),
  );
  assert.throws(
    () => resolveThrottleSettings({ factor: 0 }),
    bad('HIKYAKU_BAD_THROTTLE', /factor/),
  );
  assert.throws(
    () => resolveThrottleSettings({ recoverAfter: '0s' }),
    bad('HIKYAKU_BAD_THROTTLE', /recoverAfter/),
  );
  assert.throws(
    () => resolveThrottleSettings({ pause: '10 minutes' }),
    bad('HIKYAKU_BAD_DURATION', /^onThrottle\.pause: bad duration/),
  );
});

test('never throttled: Active at the declared rate', () => {
  assert.equal(throttleStatus(undefined, T0), 'Active');
  assert.deepEqual(effectiveRate(undefined, 300, T0), { messagesPerMinute: 300 });
});

test('a signal pauses, then the rate resumes halved', () => {
  const state = onThrottleSignal(undefined, T0, DEFAULTS);
  assert.deepEqual(state, { factor: 0.5, pausedUntil: T0 + 10 * MINUTE, recoverAfter: HOUR });
  assert.equal(throttleStatus(state, T0 + MINUTE), 'Paused');
  assert.deepEqual(effectiveRate(state, 300, T0 + MINUTE), {
    pausedUntil: T0 + 10 * MINUTE,
    messagesPerMinute: 150,
  });
  assert.equal(throttleStatus(state, T0 + 10 * MINUTE), 'Throttled');
  assert.deepEqual(effectiveRate(state, 300, T0 + 10 * MINUTE), { messagesPerMinute: 150 });
});

test('each quiet window after the pause doubles the rate back to the declared one', () => {
  let state = onThrottleSignal(undefined, T0, DEFAULTS);
  state = onThrottleSignal(state, T0 + 20 * MINUTE, DEFAULTS); // 0.25
  state = onThrottleSignal(state, T0 + 40 * MINUTE, DEFAULTS); // 0.125
  const resume = T0 + 50 * MINUTE;
  assert.equal(state.pausedUntil, resume);
  const rateAt = (t: number) => effectiveRate(state, 400, t).messagesPerMinute;
  assert.equal(rateAt(resume), 50);
  assert.equal(rateAt(resume + HOUR - 1), 50);
  assert.equal(rateAt(resume + HOUR), 100);
  assert.equal(rateAt(resume + 2 * HOUR), 200);
  assert.equal(throttleStatus(state, resume + 2 * HOUR), 'Throttled');
  assert.equal(rateAt(resume + 3 * HOUR), 400);
  assert.equal(rateAt(resume + 300 * HOUR), 400);
  assert.equal(throttleStatus(state, resume + 3 * HOUR), 'Active');
  assert.equal(throttleSettledAt(state), resume + 3 * HOUR);
});

test('signals during a pause belong to the same episode and change nothing', () => {
  const state = onThrottleSignal(undefined, T0, DEFAULTS);
  for (let i = 1; i < 50; i++) {
    assert.equal(onThrottleSignal(state, T0 + i * 1000, DEFAULTS), state);
  }
});

test('a signal during recovery compounds on the recovered factor', () => {
  const first = onThrottleSignal(undefined, T0, DEFAULTS); // 0.5 from T0+10m
  const later = T0 + 10 * MINUTE + HOUR; // recovered to 1
  assert.equal(currentFactor(first, later), 1);
  assert.equal(onThrottleSignal(first, later, DEFAULTS).factor, 0.5);
  const during = T0 + 30 * MINUTE; // still 0.5
  assert.equal(onThrottleSignal(first, during, DEFAULTS).factor, 0.25);
});

test('the factor floors at 1/64 and the rate at 1 message per minute', () => {
  let state: ThrottleState | undefined;
  let t = T0;
  for (let i = 0; i < 20; i++) {
    state = onThrottleSignal(state, t, DEFAULTS);
    t = state.pausedUntil;
  }
  assert.ok(state !== undefined);
  assert.equal(state.factor, MIN_THROTTLE_FACTOR);
  assert.equal(effectiveRate(state, 6400, t).messagesPerMinute, 100);
  assert.equal(effectiveRate(state, 60, t).messagesPerMinute, 1);
  // A declared rate under the floor is never raised.
  assert.equal(effectiveRate(state, 0.5, t).messagesPerMinute, 0.5);
  assert.equal(throttleSettledAt(state), state.pausedUntil + 6 * HOUR);
});

test('the state is plain JSON and survives a round trip through storage', () => {
  const state = onThrottleSignal(undefined, T0, DEFAULTS);
  const copy: unknown = JSON.parse(JSON.stringify(state));
  assert.ok(isThrottleState(copy));
  assert.deepEqual(effectiveRate(copy, 300, T0 + HOUR), effectiveRate(state, 300, T0 + HOUR));
  assert.equal(isThrottleState(null), false);
  assert.equal(isThrottleState({ factor: 2, pausedUntil: 0, recoverAfter: 1 }), false);
  assert.equal(isThrottleState({ factor: 0.5, pausedUntil: 'x', recoverAfter: 1 }), false);
  assert.equal(isThrottleState({ factor: 0.5, pausedUntil: 0, recoverAfter: 0 }), false);
});

test('bad arguments are refused with a coded error', () => {
  const code = (error: unknown) =>
    error instanceof PolicyError && error.code === 'HIKYAKU_BAD_POLICY_ARGUMENT';
  assert.throws(() => effectiveRate(undefined, 0, T0), code);
  assert.throws(() => onThrottleSignal(undefined, Number.NaN, DEFAULTS), code);
});

test('an unthrottled factor settles at once', () => {
  assert.equal(throttleSettledAt({ factor: 1, pausedUntil: T0, recoverAfter: HOUR }), T0);
  assert.equal(throttleSettledAt({ factor: 0.5, pausedUntil: T0, recoverAfter: HOUR }), T0 + HOUR);
  assert.equal(
    throttleSettledAt({ factor: 0.3, pausedUntil: T0, recoverAfter: HOUR }),
    T0 + 2 * HOUR,
  );
});
