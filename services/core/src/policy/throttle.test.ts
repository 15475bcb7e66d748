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

test('replies to jobs dispatched before the cut belong to its episode and cut nothing more', () => {
  const state = onThrottleSignal(undefined, rateSignal(T0, 61), SETTINGS);
  let now = state;
  for (let i = 1; i <= 50; i++) {
    // Each later refused dispatch counted the refused ones before it in its window.
    const late = rateSignal(T0 + i * 100, 61 + i, { dispatchedAt: T0 - 1 });
    now = onThrottleSignal(now, late, SETTINGS);
    assert.equal(now.since, T0, 'the hold is not restarted');
    assert.equal(now.ceiling, 61);
    near(now.rate, 0.95 * 61);
  }
  const small = rateSignal(T0 + 9000, 3, { dispatchedAt: T0 - 1 });
  assert.equal(onThrottleSignal(state, small, SETTINGS), state, 'a small count tells nothing');
});

test("replies read in any order give the receiver's count: the highest, less the refusals under it", () => {
  // The receiver took 60; refused dispatches counted 61, 62 and 63 (each counts the ones
  // before it), and one overtaken delivery was refused at a count of 55. The replies
  // come back out of order.
  let state = onThrottleSignal(undefined, rateSignal(T0, 63), SETTINGS);
  assert.equal(state.ceiling, 63);
  for (const count of [55, 61, 62]) {
    state = onThrottleSignal(
      state,
      rateSignal(T0 + 200, count, { dispatchedAt: T0 - 50 }),
      SETTINGS,
    );
  }
  assert.equal(state.ceiling, 60);
  near(state.rate, 0.95 * 60);
  assert.equal(state.since, T0, 'the hold is not restarted');
  // The cut never rises above a margin under the rate it was refused at.
  const held = onThrottleSignal(state, rateSignal(T0 + 10_000, 58), SETTINGS);
  const late = onThrottleSignal(
    held,
    rateSignal(T0 + 10_100, 70, { dispatchedAt: T0 + 9000 }),
    SETTINGS,
  );
  assert.ok(late.rate <= 0.95 * learnedRate(state, T0 + 10_000) + 1e-9, `${late.rate}`);
});

/** Hold, probe and growth of learned(): ceiling 61, held at 57.95 (57 a window). */
const HOLD = 80 * SECOND; // recoverAfter; 64 messages at 57.95 a minute take less
const PROBE = 61 * 1.15;
const PROBE_MS = ((61 + 2 - 57) / (Math.floor(PROBE) - 57)) * 72 * SECOND;

test('held for recoverAfter, then one probe past the ceiling, then fast growth to the declared rate', () => {
  const state = learned();
  const at = (t: number) => effectiveRate(state, 300, t).messagesPerMinute;
  const cut = T0;
  near(at(cut + HOLD - 1), 0.95 * 61);
  near(at(cut + HOLD), PROBE);
  near(at(cut + HOLD + PROBE_MS - 1), PROBE);
  near(at(cut + HOLD + PROBE_MS), 4 * PROBE, 'the probe ran clean: the receiver relented');
  assert.equal(at(cut + HOLD + PROBE_MS + STEP), 300);
  assert.equal(throttleRecoveredAt(state), cut + HOLD + PROBE_MS + STEP);
  assert.equal(throttleStatus(state, cut + HOLD + PROBE_MS + STEP), 'Active');
  // Kept a day longer, so a restart or another replica still knows the ceiling.
  assert.equal(throttleSettledAt(state), throttleRecoveredAt(state) + 24 * 3600 * SECOND);
});

test('at a low rate the hold lasts as long as 64 messages take, so probes stay rare', () => {
  const slow = onThrottleSignal(undefined, rateSignal(T0, 11), SETTINGS);
  near(slow.rate, 0.95 * 11);
  const hold = (64 / (0.95 * 11)) * 60 * SECOND;
  near(learnedRate(slow, T0 + hold - 1), 0.95 * 11);
  near(learnedRate(slow, T0 + hold + 1), 14);
});

test('a refused probe goes back to just under the count the receiver refused at, and holds again', () => {
  const state = learned();
  const probing = T0 + HOLD + 5 * SECOND;
  assert.ok(learnedRate(state, probing) > 61);
  const next = onThrottleSignal(state, rateSignal(probing, 62), SETTINGS);
  assert.equal(next.ceiling, 62);
  near(next.rate, 0.95 * 62);
  near(next.clean, 0.95 * 61, 'the held rate ran clean');
  assert.equal(next.since, probing);
  near(learnedRate(next, probing + HOLD - 1), 0.95 * 62);
  // Too few dispatches to read a limit from: back to the rate held before the probe.
  const few = onThrottleSignal(state, rateSignal(probing, 4), SETTINGS);
  assert.equal(few.ceiling, 61);
  near(few.rate, 0.95 * 61);
});

test('a receiver that relented and limits higher is learned again from its count', () => {
  const state = learned();
  const t = T0 + HOLD + PROBE_MS + 1;
  assert.ok(learnedRate(state, t) > 200);
  const next = onThrottleSignal(state, rateSignal(t, 200), SETTINGS);
  assert.equal(next.ceiling, 200);
  near(next.rate, 0.95 * 200);
});

test('refused at the held rate: a margin lower each time, following the receiver down', () => {
  const state = learned();
  const holding = T0 + 10 * SECOND;
  const again = onThrottleSignal(state, rateSignal(holding, 58), SETTINGS);
  near(again.rate, 0.95 * 0.95 * 61);
  assert.equal(again.clean, 0);
  // The receiver now takes 40: one refusal after a count of 41 says so.
  const lower = onThrottleSignal(again, rateSignal(holding + 1000, 41), SETTINGS);
  near(lower.rate, 0.95 * 41);
  assert.equal(lower.ceiling, 41);
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
