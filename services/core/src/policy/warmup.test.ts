import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicyError } from './errors.ts';
import {
  advanceWarmupState,
  calendarDayKey,
  checkWarmupSchedule,
  dailyLimitForDay,
  dayKeyFormatter,
  daysBetween,
  initialWarmupState,
  nextDayStart,
  warmupCap,
  warmupDayNumber,
  warmupToday,
} from './warmup.ts';

const SCHEDULE = [
  { day: 1, dailyLimit: 50 },
  { day: 2, dailyLimit: 100 },
  { day: 30, dailyLimit: 500_000 },
];

function code(c: string) {
  return (error: unknown) => error instanceof PolicyError && error.code === c;
}

test('listed days give their limit; days between are interpolated linearly', () => {
  assert.equal(dailyLimitForDay(SCHEDULE, 1), 50);
  assert.equal(dailyLimitForDay(SCHEDULE, 2), 100);
  assert.equal(dailyLimitForDay(SCHEDULE, 16), 250_050);
  assert.equal(dailyLimitForDay(SCHEDULE, 3), Math.round(100 + 499_900 / 28));
  assert.equal(dailyLimitForDay(SCHEDULE, 30), 500_000);
});

test('after the last listed day its limit holds; before day 1 nothing is sent', () => {
  assert.equal(dailyLimitForDay(SCHEDULE, 31), 500_000);
  assert.equal(dailyLimitForDay(SCHEDULE, 400), 500_000);
  assert.equal(dailyLimitForDay(SCHEDULE, 0), 0);
  assert.equal(dailyLimitForDay(SCHEDULE, -3), 0);
});

test('before the first listed day the first limit holds', () => {
  const late = [
    { day: 3, dailyLimit: 200 },
    { day: 5, dailyLimit: 400 },
  ];
  assert.equal(dailyLimitForDay(late, 1), 200);
  assert.equal(dailyLimitForDay(late, 4), 300);
});

test('a schedule that is empty, unordered or has bad limits is refused', () => {
  const bad = code('HIKYAKU_BAD_WARMUP_SCHEDULE');
  assert.throws(() => checkWarmupSchedule([]), bad);
  assert.throws(() => checkWarmupSchedule([{ day: 0, dailyLimit: 1 }]), bad);
  assert.throws(() => checkWarmupSchedule([{ day: 1.5, dailyLimit: 1 }]), bad);
  assert.throws(
    () =>
      checkWarmupSchedule([
        { day: 2, dailyLimit: 1 },
        { day: 2, dailyLimit: 2 },
      ]),
    /schedule\[1\]\.day 2 does not follow day 2/,
  );
  assert.throws(() => checkWarmupSchedule([{ day: 1, dailyLimit: -1 }]), bad);
  assert.throws(() => dailyLimitForDay([], 1), bad);
});

test('day keys are calendar days in the pool time zone, DST included', () => {
  const instant = Date.UTC(2026, 10, 1, 15, 30); // 2026-11-01 15:30 UTC
  assert.equal(calendarDayKey(instant, 'UTC'), '2026-11-01');
  assert.equal(calendarDayKey(instant, 'Asia/Tokyo'), '2026-11-02'); // 00:30 JST
  assert.equal(calendarDayKey(instant, 'America/Los_Angeles'), '2026-11-01');
  // Los Angeles leaves DST on 2026-11-01 at 09:00 UTC; before that midnight is 07:00 UTC.
  assert.equal(calendarDayKey(Date.UTC(2026, 10, 1, 7, 0), 'America/Los_Angeles'), '2026-11-01');
  assert.equal(calendarDayKey(Date.UTC(2026, 10, 1, 6, 59), 'America/Los_Angeles'), '2026-10-31');
  // After it, midnight is 08:00 UTC.
  assert.equal(calendarDayKey(Date.UTC(2026, 10, 2, 7, 59), 'America/Los_Angeles'), '2026-11-01');
  assert.equal(calendarDayKey(Date.UTC(2026, 10, 2, 8, 0), 'America/Los_Angeles'), '2026-11-02');
  assert.equal(calendarDayKey(instant), '2026-11-01', 'UTC by default');
});

test('a day key formatter is reusable and refuses a bad zone or instant', () => {
  const tokyo = dayKeyFormatter('Asia/Tokyo');
  assert.equal(tokyo(Date.UTC(2026, 0, 1, 14, 59)), '2026-01-01');
  assert.equal(tokyo(Date.UTC(2026, 0, 1, 15, 0)), '2026-01-02');
  assert.throws(() => dayKeyFormatter('Mars/Olympus'), code('HIKYAKU_BAD_TIME_ZONE'));
  assert.throws(() => tokyo(Number.NaN), code('HIKYAKU_BAD_POLICY_ARGUMENT'));
});

test('a day key is remembered per minute, never across the start of a day', () => {
  // Kathmandu is 5:45 ahead: its days start at 18:15 UTC.
  const start = Date.UTC(2026, 11, 5, 18, 15);
  const kathmandu = (ms: number) => calendarDayKey(ms, 'Asia/Kathmandu');
  assert.equal(kathmandu(start - 61_000), '2026-12-05');
  assert.equal(kathmandu(start - 1), '2026-12-05', 'the last ms of the day');
  assert.equal(kathmandu(start - 30_000), '2026-12-05', 'its minute, remembered');
  assert.equal(kathmandu(start), '2026-12-06', 'the next minute starts the next day');
  assert.equal(kathmandu(start + 59_999), '2026-12-06');
  assert.equal(kathmandu(start - 1), '2026-12-05', 'going back works too');
  // Each zone remembers its own minute.
  assert.equal(calendarDayKey(start, 'UTC'), '2026-12-05');
  assert.equal(kathmandu(start + 1), '2026-12-06');
  // An offset with seconds: Madras time (5:21:10, Kolkata's in 1900) started days at 18:38:50 UTC.
  const lmt = Date.UTC(1900, 0, 1, 18, 38, 50);
  const kolkata = (ms: number) => calendarDayKey(ms, 'Asia/Kolkata');
  assert.equal(kolkata(lmt - 1), '1900-01-01');
  assert.equal(kolkata(lmt), '1900-01-02');
  assert.equal(kolkata(lmt - 1), '1900-01-01');
});

test('days between day keys, across months, years and leap days', () => {
  assert.equal(daysBetween('2026-11-01', '2026-11-01'), 0);
  assert.equal(daysBetween('2026-10-31', '2026-11-02'), 2);
  assert.equal(daysBetween('2026-12-31', '2027-01-01'), 1);
  assert.equal(daysBetween('2028-02-28', '2028-03-01'), 2);
  assert.equal(daysBetween('2026-11-05', '2026-11-01'), -4);
  assert.equal(warmupDayNumber('2026-11-01', '2026-11-01'), 1);
  assert.equal(warmupDayNumber('2026-11-01', '2026-11-12'), 12);
  assert.equal(warmupDayNumber('2026-11-01', '2026-10-30'), -1);
});

test('bad dates are refused with the value named', () => {
  for (const value of ['2026-02-30', '2026-13-01', '26-11-01', '2026/11/01', '', '1969-12-31']) {
    assert.throws(
      () => daysBetween(value, '2026-11-01'),
      (error: unknown) =>
        error instanceof PolicyError &&
        error.code === 'HIKYAKU_BAD_DATE' &&
        error.message.includes(JSON.stringify(value)),
      value,
    );
  }
});

test('an IP without warm-up has no cap, explicitly null', () => {
  const cap = warmupCap({ schedule: SCHEDULE, timeZone: 'Asia/Tokyo', now: Date.UTC(2026, 10, 1) });
  assert.deepEqual(cap, { dayKey: '2026-11-01', day: null, dailyLimit: null });
});

test('the calendar decides the day when no state is kept', () => {
  const warmup = { startDate: '2026-11-01' };
  const on = (iso: string) =>
    warmupCap({ schedule: SCHEDULE, warmup, timeZone: 'Asia/Tokyo', now: Date.parse(iso) });
  assert.deepEqual(on('2026-10-31T14:59:59Z'), { dayKey: '2026-10-31', day: 0, dailyLimit: 0 });
  assert.deepEqual(on('2026-10-31T15:00:00Z'), { dayKey: '2026-11-01', day: 1, dailyLimit: 50 });
  assert.deepEqual(on('2026-11-16T03:00:00Z'), {
    dayKey: '2026-11-16',
    day: 16,
    dailyLimit: 250_050,
  });
});

test('a kept state decides the day, except before the start date', () => {
  const input = { schedule: SCHEDULE, warmup: { startDate: '2026-11-01' }, timeZone: 'UTC' };
  const state = { day: 3, lastDayKey: '2026-11-20' };
  const held = warmupCap({ ...input, now: Date.UTC(2026, 10, 20, 12), state });
  assert.equal(held.day, 3);
  assert.equal(held.dailyLimit, dailyLimitForDay(SCHEDULE, 3));
  const early = warmupCap({ ...input, now: Date.UTC(2026, 9, 30), state });
  assert.deepEqual([early.day, early.dailyLimit], [0, 0]);
});

test('a new IP starts on its calendar day, at least day 1', () => {
  assert.deepEqual(initialWarmupState('2026-11-01', '2026-11-01'), {
    day: 1,
    lastDayKey: '2026-11-01',
  });
  assert.deepEqual(initialWarmupState('2026-11-01', '2026-11-11'), {
    day: 11,
    lastDayKey: '2026-11-11',
  });
  assert.deepEqual(initialWarmupState('2026-11-05', '2026-11-01'), {
    day: 1,
    lastDayKey: '2026-11-01',
  });
});

test('a good day moves the IP on by one day', () => {
  const state = { day: 4, lastDayKey: '2026-11-04' };
  const next = advanceWarmupState(state, {
    today: '2026-11-05',
    yesterdayDelivered: 90,
    yesterdayAttempted: 100,
  });
  assert.deepEqual(next, { state: { day: 5, lastDayKey: '2026-11-05' }, held: false });
});

test('a poor day, or a day without attempts, holds the IP on its day', () => {
  const state = { day: 4, lastDayKey: '2026-11-04' };
  const poor = advanceWarmupState(state, {
    today: '2026-11-05',
    yesterdayDelivered: 89,
    yesterdayAttempted: 100,
  });
  assert.deepEqual(poor, { state: { day: 4, lastDayKey: '2026-11-05' }, held: true });
  const idle = advanceWarmupState(state, {
    today: '2026-11-05',
    yesterdayDelivered: 0,
    yesterdayAttempted: 0,
  });
  assert.equal(idle.held, true);
  assert.equal(idle.state.day, 4);
});

test('the threshold is configurable', () => {
  const state = { day: 1, lastDayKey: '2026-11-01' };
  const input = { today: '2026-11-02', yesterdayDelivered: 50, yesterdayAttempted: 100 };
  assert.equal(advanceWarmupState(state, { ...input, threshold: 0.5 }).state.day, 2);
  assert.equal(advanceWarmupState(state, { ...input, threshold: 0.51 }).state.day, 1);
  assert.throws(
    () => advanceWarmupState(state, { ...input, threshold: 1.5 }),
    code('HIKYAKU_BAD_POLICY_ARGUMENT'),
  );
  assert.throws(
    () => advanceWarmupState(state, { ...input, yesterdayAttempted: -1 }),
    code('HIKYAKU_BAD_POLICY_ARGUMENT'),
  );
});

test('the same day, or an earlier one, changes nothing; a gap moves at most one day', () => {
  const state = { day: 7, lastDayKey: '2026-11-07' };
  const counters = { yesterdayDelivered: 100, yesterdayAttempted: 100 };
  assert.deepEqual(advanceWarmupState(state, { today: '2026-11-07', ...counters }), {
    state,
    held: false,
  });
  assert.deepEqual(advanceWarmupState(state, { today: '2026-11-06', ...counters }).state, state);
  const gap = advanceWarmupState(state, { today: '2026-11-12', ...counters });
  assert.deepEqual(gap.state, { day: 8, lastDayKey: '2026-11-12' });
});

test('thirty good days in a row reach the top of the schedule, in milliseconds', () => {
  const formatter = dayKeyFormatter('Asia/Tokyo');
  const start = Date.parse('2026-11-01T00:00:00+09:00');
  let state = initialWarmupState('2026-11-01', formatter(start));
  for (let n = 1; n < 30; n++) {
    const today = formatter(start + n * 86_400_000);
    state = advanceWarmupState(state, {
      today,
      yesterdayDelivered: 99,
      yesterdayAttempted: 100,
    }).state;
  }
  assert.deepEqual(state, { day: 30, lastDayKey: '2026-11-30' });
  const cap = warmupCap({
    schedule: SCHEDULE,
    warmup: { startDate: '2026-11-01' },
    timeZone: 'Asia/Tokyo',
    now: start + 29 * 86_400_000,
    state,
  });
  assert.equal(cap.dailyLimit, 500_000);
});

test('the next day starts at local midnight, DST days included', () => {
  const tokyoNoon = Date.parse('2026-11-01T03:00:00Z');
  assert.equal(nextDayStart(tokyoNoon, 'Asia/Tokyo'), Date.parse('2026-11-01T15:00:00Z'));
  assert.equal(nextDayStart(tokyoNoon, 'UTC'), Date.parse('2026-11-02T00:00:00Z'));
  // New York leaves DST on 2026-11-01: that day lasts 25 hours.
  const nyMorning = Date.parse('2026-11-01T05:00:00Z');
  assert.equal(nextDayStart(nyMorning, 'America/New_York'), Date.parse('2026-11-02T05:00:00Z'));
  const lastMs = Date.parse('2026-11-01T23:59:59.999Z');
  assert.equal(nextDayStart(lastMs), lastMs + 1);
});

test('warm-up today: first sight, advance, hold, and nothing before the start date', () => {
  const base = { schedule: SCHEDULE, startDate: '2026-11-01', timeZone: 'UTC' };
  const day1 = Date.parse('2026-11-01T10:00:00Z');
  const first = warmupToday({ ...base, now: day1 });
  assert.deepEqual(
    { day: first.day, dailyLimit: first.dailyLimit, changed: first.changed },
    { day: 1, dailyLimit: 50, changed: true },
  );
  const stored = first.state;
  assert.ok(stored);
  const same = warmupToday({ ...base, now: day1 + 3600_000, stored });
  assert.equal(same.changed, false);
  const good = warmupToday({
    ...base,
    now: day1 + 86_400_000,
    stored,
    lastDay: { delivered: 50, attempted: 50 },
  });
  assert.deepEqual([good.day, good.dailyLimit, good.held, good.changed], [2, 100, false, true]);
  const poor = warmupToday({
    ...base,
    now: day1 + 86_400_000,
    stored,
    lastDay: { delivered: 40, attempted: 50 },
    threshold: 0.9,
  });
  assert.deepEqual([poor.day, poor.dailyLimit, poor.held, poor.changed], [1, 50, true, true]);
  const early = warmupToday({ ...base, now: Date.parse('2026-10-31T10:00:00Z') });
  assert.deepEqual([early.day, early.dailyLimit, early.state], [0, 0, undefined]);
});
