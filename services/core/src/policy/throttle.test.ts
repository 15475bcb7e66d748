import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SECOND } from './duration.ts';
import {
  effectiveRate,
  isThrottleState,
  learnedConnections,
  learnedRate,
  MIN_MESSAGES_PER_MINUTE,
  onThrottleSignal,
  resolveThrottleSettings,
  type ThrottleSignal,
  type ThrottleState,
  throttleRecoveredAt,
  throttleSettledAt,
  throttleStatus,
} from './throttle.ts';

const T0 = Date.parse('2026-12-01T09:00:00Z');
const SETTINGS = resolveThrottleSettings({ pause: '30s', factor: 0.5, recoverAfter: '80s' });
const STEP = 10 * SECOND; // recoverAfter / 8

function rateSignal(now: number, measured: number, extra: Partial<ThrottleSignal> = {}) {
  return {
    now,
    reason: 'rate' as const,
    declared: 300,
    declaredConnections: 10,
    measured,
    dispatchedAt: now - 100,
    ...extra,
  };
}

function near(actual: number, expected: number, why = ''): void {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected} ${why}`);
}

/** A receiver allowing 60 a minute, believed 300, refused the 61st of the minute. */
function learned(): ThrottleState {
  return onThrottleSignal(undefined, rateSignal(T0, 61), SETTINGS);
}

test('nothing learned: the declared rate and connections', () => {
  assert.equal(throttleStatus(undefined, T0), 'Active');
  assert.deepEqual(effectiveRate(undefined, 300, T0), { messagesPerMinute: 300 });
  assert.equal(learnedConnections(undefined, 10, T0), 10);
});

test('a signal cuts to just under what the receiver counted, without pause', () => {
  const state = learned();
  assert.equal(state.ceiling, 61);
  near(effectiveRate(state, 300, T0 + 1).messagesPerMinute, 0.95 * 61);
  assert.equal(effectiveRate(state, 300, T0 + 1).pausedUntil, undefined);
  assert.equal(throttleStatus(state, T0 + 1), 'Throttled');
});

test('a refusal after a small count may be stray: the cut is at most the factor', () => {
  const stray = onThrottleSignal(undefined, rateSignal(T0, 3), SETTINGS);
  assert.equal(stray.rate, 150);
  // A second one, from a job sent after the cut, cuts by the factor again.
  const again = onThrottleSignal(stray, rateSignal(T0 + 5000, 4), SETTINGS);
  assert.equal(again.rate, 75);
});

test('replies to jobs dispatched before the cut belong to its episode and change nothing', () => {
  const state = onThrottleSignal(undefined, rateSignal(T0, 61), SETTINGS);
  for (let i = 1; i <= 50; i++) {
    const late = rateSignal(T0 + i * 100, 61, { dispatchedAt: T0 - 1 });
    assert.equal(onThrottleSignal(state, late, SETTINGS), state);
  }
});

test('held for recoverAfter, then additive steps to the ceiling, then fast growth to the declared rate', () => {
  const state = learned();
  const at = (t: number) => effectiveRate(state, 300, t).messagesPerMinute;
  const cut = T0;
  const held = 0.95 * 61;
  near(at(cut + 80 * SECOND - 1), held);
  const step = 0.02 * 61;
  near(at(cut + 80 * SECOND), held + step);
  near(at(cut + 80 * SECOND + STEP), held + 2 * step);
  const past = held + 3 * step; // the first step past the ceiling of 61
  near(at(cut + 80 * SECOND + 2 * STEP), past);
  near(at(cut + 80 * SECOND + 3 * STEP), 4 * past);
  assert.equal(at(cut + 80 * SECOND + 4 * STEP), 300);
  assert.equal(throttleRecoveredAt(state), cut + 80 * SECOND + 4 * STEP);
  assert.equal(throttleStatus(state, cut + 80 * SECOND + 4 * STEP), 'Active');
  // Kept a day longer, so a restart or another replica still knows the ceiling.
  assert.equal(throttleSettledAt(state), throttleRecoveredAt(state) + 24 * 3600 * SECOND);
});

test('a refused probe goes just under the last rate that ran clean', () => {
  const state = learned();
  const cut = T0;
  const probing = cut + 80 * SECOND + 2 * STEP + 1; // third step, past the ceiling
  const inForce = learnedRate(state, probing);
  const clean = learnedRate(state, probing - STEP);
  assert.ok(inForce > 61 && clean < 61);
  const next = onThrottleSignal(state, rateSignal(probing, 61), SETTINGS);
  near(next.rate, clean - 0.02 * 61);
  near(next.clean, clean);
  assert.equal(next.ceiling, 61);
});

test('a receiver that relents is found: a clean step past the ceiling forgets it', () => {
  const state = learned();
  const cut = T0;
  // Throttled again at 240 after the ceiling was passed cleanly: the new count is believed.
  const t = cut + 80 * SECOND + 4 * STEP + 1;
  const inForce = Math.min(300, learnedRate(state, t));
  const clean = learnedRate(state, t - STEP);
  assert.ok(inForce > 200 && clean > 61);
  const next = onThrottleSignal(state, rateSignal(t, 200), SETTINGS);
  assert.equal(next.ceiling, inForce, 'refused at the probing rate');
  near(next.rate, clean - 0.02 * inForce, 'a refused probe goes back under the clean rate');
});

test('refused at a rate that ran clean: one step down, and the clean rate is forgotten', () => {
  const state = learned();
  const cut = T0;
  const probing = cut + 80 * SECOND + 2 * STEP + 1;
  const back = onThrottleSignal(state, rateSignal(probing, 61), SETTINGS);
  const holding = probing + 1000;
  const again = onThrottleSignal(back, rateSignal(holding, 30), SETTINGS);
  near(again.rate, back.rate - 0.02 * back.rate);
  assert.equal(again.clean, 0);
  // Bunched arrivals once more, with a partly drained window: a small step, not a collapse.
  const third = onThrottleSignal(again, rateSignal(holding + 1000, 30), SETTINGS);
  near(third.rate, 0.95 * again.rate);
  // Refused at full rate with nothing clean known: a margin under the known ceiling.
  const full = onThrottleSignal(third, rateSignal(holding + 2000, 200), SETTINGS);
  assert.ok(full.rate < third.rate && full.rate >= 0.9 * third.rate, `${full.rate}`);
});

test('only a pair refused at the lowest rate pauses, for `pause`', () => {
  let state: ThrottleState | undefined;
  let t = T0;
  while (state === undefined || learnedRate(state, t) > MIN_MESSAGES_PER_MINUTE) {
    t += 1000;
    state = onThrottleSignal(state, rateSignal(t, 1), SETTINGS);
    assert.equal(throttleStatus(state, t), 'Throttled');
  }
  t += 1000;
  const floor = onThrottleSignal(state, rateSignal(t, 1), SETTINGS);
  assert.equal(floor.pausedUntil, t + 30 * SECOND);
  assert.equal(throttleStatus(floor, t), 'Paused');
  assert.deepEqual(effectiveRate(floor, 300, t), {
    pausedUntil: t + 30 * SECOND,
    messagesPerMinute: MIN_MESSAGES_PER_MINUTE,
  });
});

test('connection limits are learned apart from the rate: cut, held, one back per step', () => {
  const signal = { ...rateSignal(T0, 5), reason: 'connections' as const };
  const first = onThrottleSignal(undefined, signal, SETTINGS);
  assert.equal(learnedConnections(first, 10, T0), 5);
  assert.equal(learnedRate(first, T0), 300, 'the rate is not cut');
  const second = onThrottleSignal(
    first,
    { ...signal, now: T0 + 1000, dispatchedAt: T0 + 900 },
    SETTINGS,
  );
  assert.equal(learnedConnections(second, 10, T0 + 1000), 2);
  const third = onThrottleSignal(
    second,
    { ...signal, now: T0 + 2000, dispatchedAt: T0 + 1900 },
    SETTINGS,
  );
  assert.equal(learnedConnections(third, 10, T0 + 2000), 1);
  // A late reply from before the cut changes nothing.
  const late = { ...signal, now: T0 + 3000, dispatchedAt: T0 + 1500 };
  assert.equal(onThrottleSignal(third, late, SETTINGS), third);
  assert.equal(throttleStatus(third, T0 + 2000), 'Throttled');
  assert.equal(learnedConnections(third, 10, T0 + 2000 + 80 * SECOND), 2);
  // The probe to two connections is refused: back to one, not cut by the factor again.
  const probe = {
    ...signal,
    now: T0 + 2000 + 80 * SECOND + 1,
    dispatchedAt: T0 + 2000 + 80 * SECOND,
  };
  const back = onThrottleSignal(third, probe, SETTINGS);
  assert.equal(learnedConnections(back, 10, probe.now), 1);
  assert.equal(learnedConnections(third, 10, T0 + 2000 + 80 * SECOND + 8 * STEP), 10);
  assert.equal(throttleRecoveredAt(third), T0 + 2000 + 80 * SECOND + 8 * STEP);
});

test('states read back from storage are checked', () => {
  const state = learned();
  const copy: unknown = JSON.parse(JSON.stringify(state));
  assert.ok(isThrottleState(copy));
  assert.deepEqual(effectiveRate(copy, 300, T0 + 90_000), effectiveRate(state, 300, T0 + 90_000));
  assert.equal(isThrottleState(null), false);
  // The factor-only state of earlier versions is not a learned state: nothing is learned.
  assert.equal(isThrottleState({ factor: 0.5, pausedUntil: 0, recoverAfter: 1 }), false);
  assert.equal(isThrottleState({ ...state, rate: 0 }), false);
  assert.equal(isThrottleState({ ...state, reason: 'other' }), false);
  assert.equal(
    isThrottleState({ ...state, connections: { limit: 0, since: 0, declared: 1 } }),
    false,
  );
});

test('bad arguments are refused with a stable code', () => {
  const code = { code: 'HIKYAKU_BAD_POLICY_ARGUMENT' };
  assert.throws(() => effectiveRate(undefined, 0, T0), code);
  assert.throws(() => onThrottleSignal(undefined, rateSignal(Number.NaN, 1), SETTINGS), code);
  assert.throws(
    () => onThrottleSignal(undefined, rateSignal(T0, 1, { declared: 0 }), SETTINGS),
    code,
  );
  assert.throws(() => resolveThrottleSettings({ factor: 1 }), { code: 'HIKYAKU_BAD_THROTTLE' });
});
