/**
 * IP warm-up: how many messages a new IP may send on a calendar day. Days are counted in
 * the pool's time zone, because receivers judge volume by their day and operators plan by
 * theirs; a cap that reset at UTC midnight would surprise a Tokyo operator at 09:00.
 *
 * The pool's schedule lists [{day, dailyLimit}] with days increasing. Between listed days
 * the limit grows linearly; after the last listed day its limit holds; before the first
 * listed day the first limit holds; before the IP's start date (day < 1) the cap is 0.
 *
 * The day an IP is on is not simply the calendar: it moves one day forward only when the
 * previous day's delivered ratio reached the pool's threshold, otherwise the IP holds its
 * day (advanceWarmupState). An IP without warm-up has no cap: dailyLimit null.
 */

import type { WarmupSpec, WarmupStepSpec } from '../pool/spec.ts';
import { DAY } from './duration.ts';
import {
  BadDateError,
  BadTimeZoneError,
  BadWarmupScheduleError,
  PolicyArgumentError,
} from './errors.ts';

export const DEFAULT_TIME_ZONE = 'UTC';
export const DEFAULT_MIN_DELIVERED_RATIO = 0.9;

/** Persisted per IP (Redis), advanced once per calendar day. */
export interface WarmupState {
  /** The warm-up day the IP is on; 1 on its start date. */
  day: number;
  /** Calendar day (YYYY-MM-DD, pool time zone) `day` was last set for. */
  lastDayKey: string;
}

export interface WarmupCap {
  /** Today in the pool's time zone: the key daily counters are stored under. */
  dayKey: string;
  /** The warm-up day; 0 before the start date; null when the IP does not warm up. */
  day: number | null;
  /** Messages the IP may send today; null when the IP does not warm up (no cap). */
  dailyLimit: number | null;
}

export interface WarmupCapInput {
  schedule: readonly WarmupStepSpec[];
  /** The IP's warm-up; absent: the IP is warm and uncapped. */
  warmup?: WarmupSpec;
  /** IANA time zone; DEFAULT_TIME_ZONE when absent. */
  timeZone?: string;
  now: number;
  /** The IP's persisted state, already advanced to today; absent: the calendar decides. */
  state?: WarmupState;
}

export interface AdvanceWarmupInput {
  /** Today's day key. */
  today: string;
  /** Counters of state.lastDayKey (normally yesterday). */
  yesterdayDelivered: number;
  yesterdayAttempted: number;
  /** Minimum delivered / attempted ratio to move on; DEFAULT_MIN_DELIVERED_RATIO when absent. */
  threshold?: number;
}

export interface AdvanceWarmupResult {
  state: WarmupState;
  /** true when a new day began and the IP stayed on its day. */
  held: boolean;
}

/** Validates a pool schedule; returns a frozen copy. */
export function checkWarmupSchedule(
  schedule: readonly WarmupStepSpec[],
): readonly WarmupStepSpec[] {
  if (schedule.length === 0) throw new BadWarmupScheduleError('it is empty');
  let previous = 0;
  for (const [i, step] of schedule.entries()) {
    if (!Number.isInteger(step.day) || step.day < 1) {
      throw new BadWarmupScheduleError(`schedule[${i}].day must be a whole number >= 1`);
    }
    if (step.day <= previous) {
      throw new BadWarmupScheduleError(
        `schedule[${i}].day ${step.day} does not follow day ${previous}`,
      );
    }
    if (!Number.isInteger(step.dailyLimit) || step.dailyLimit < 0) {
      throw new BadWarmupScheduleError(`schedule[${i}].dailyLimit must be a whole number >= 0`);
    }
    previous = step.day;
  }
  return Object.freeze(
    schedule.map((s) => Object.freeze({ day: s.day, dailyLimit: s.dailyLimit })),
  );
}

/** The cap of a warm-up day under a schedule (see the module comment for the shape). */
export function dailyLimitForDay(schedule: readonly WarmupStepSpec[], day: number): number {
  const steps = checkWarmupSchedule(schedule);
  if (day < 1) return 0;
  const first = steps[0] as WarmupStepSpec;
  const last = steps[steps.length - 1] as WarmupStepSpec;
  if (day <= first.day) return first.dailyLimit;
  if (day >= last.day) return last.dailyLimit;
  const next = steps.findIndex((s) => s.day > day);
  const to = steps[next] as WarmupStepSpec;
  const from = steps[next - 1] as WarmupStepSpec;
  const progress = (day - from.day) / (to.day - from.day);
  return Math.round(from.dailyLimit + (to.dailyLimit - from.dailyLimit) * progress);
}

/**
 * Formatters by time zone, with the day key they gave last. Building an
 * Intl.DateTimeFormat costs far more than using one, and using one far more than reading
 * a remembered key: day keys are computed for every delivery item and result, mostly for
 * the same minute. A formatter is immutable and a minute's key never changes, so sharing
 * both changes no result.
 */
interface ZoneDays {
  format: Intl.DateTimeFormat;
  /** The minute (epoch ms / 60,000) of the last key remembered, NaN before the first. */
  minute: number;
  key: string;
}

const zones = new Map<string, ZoneDays>();

/**
 * From here on, every zone's offsets and transitions are whole minutes, so a calendar day
 * starts on a whole minute and one key holds for all of it. Before, some zones kept local
 * mean time with offsets in seconds: instants then are formatted each time.
 */
const WHOLE_MINUTE_DAYS_FROM = Date.UTC(1980, 0, 1);

function zoneDays(timeZone: string): ZoneDays {
  let zone = zones.get(timeZone);
  if (zone) return zone;
  try {
    zone = {
      format: new Intl.DateTimeFormat('en-US', {
        timeZone,
        calendar: 'gregory',
        numberingSystem: 'latn',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      }),
      minute: Number.NaN,
      key: '',
    };
  } catch (cause) {
    throw new BadTimeZoneError(timeZone, cause);
  }
  // Time zones are few (one per pool); the bound only guards against a caller looping
  // over arbitrary strings.
  if (zones.size >= 1000) zones.clear();
  zones.set(timeZone, zone);
  return zone;
}

function dayKeyIn(zone: ZoneDays, now: number): string {
  if (!Number.isFinite(now)) throw new PolicyArgumentError(`now must be epoch ms, got ${now}`);
  const minute = Math.floor(now / 60_000);
  if (minute === zone.minute) return zone.key;
  const parts = zone.format.formatToParts(now);
  const part = (type: Intl.DateTimeFormatPartTypes) =>
    parts.find((p) => p.type === type)?.value ?? '';
  const key = `${part('year').padStart(4, '0')}-${part('month')}-${part('day')}`;
  if (now >= WHOLE_MINUTE_DAYS_FROM) {
    zone.minute = minute;
    zone.key = key;
  }
  return key;
}

/** A function from epoch ms to the calendar day (YYYY-MM-DD) in a time zone. */
export function dayKeyFormatter(timeZone: string = DEFAULT_TIME_ZONE): (now: number) => string {
  const zone = zoneDays(timeZone);
  return (now) => dayKeyIn(zone, now);
}

/** The calendar day (YYYY-MM-DD) of an instant in a time zone. */
export function calendarDayKey(now: number, timeZone: string = DEFAULT_TIME_ZONE): string {
  return dayKeyIn(zoneDays(timeZone), now);
}

/** Whole calendar days from one day key to another (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return Math.round((dayKeyToUtc(to) - dayKeyToUtc(from)) / DAY);
}

/** The calendar warm-up day of `today` for an IP starting on `startDate`: 1 on it, <= 0 before. */
export function warmupDayNumber(startDate: string, today: string): number {
  return daysBetween(startDate, today) + 1;
}

/**
 * The state of an IP seen for the first time. With no history to judge by, the calendar
 * decides: an IP whose start date is ten days back (moved from another relay, say) starts
 * on day 11, not day 1.
 */
export function initialWarmupState(startDate: string, today: string): WarmupState {
  return { day: Math.max(1, warmupDayNumber(startDate, today)), lastDayKey: today };
}

/**
 * The once-a-day transition. On a new day the IP moves one day on when the last day's
 * delivered ratio reached the threshold, and holds otherwise, a day without attempts
 * included (an IP that sent nothing has earned no reputation). It moves at most one day
 * however many calendar days passed, since only one day's counters are known. The same
 * day, or a day key earlier than the state's (a clock or time zone change), changes nothing.
 */
export function advanceWarmupState(
  state: WarmupState,
  input: AdvanceWarmupInput,
): AdvanceWarmupResult {
  const threshold = input.threshold ?? DEFAULT_MIN_DELIVERED_RATIO;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new PolicyArgumentError(`warm-up threshold must be in [0, 1], got ${threshold}`);
  }
  const { yesterdayDelivered: delivered, yesterdayAttempted: attempted } = input;
  if (!(delivered >= 0 && attempted >= 0)) {
    throw new PolicyArgumentError('warm-up counters must be >= 0');
  }
  if (daysBetween(state.lastDayKey, input.today) <= 0) return { state, held: false };
  const earned = attempted > 0 && delivered / attempted >= threshold;
  return {
    state: { day: earned ? state.day + 1 : state.day, lastDayKey: input.today },
    held: !earned,
  };
}

/** Today's key, warm-up day and cap for one IP. */
export function warmupCap(input: WarmupCapInput): WarmupCap {
  const dayKey = calendarDayKey(input.now, input.timeZone ?? DEFAULT_TIME_ZONE);
  if (input.warmup === undefined) return { dayKey, day: null, dailyLimit: null };
  const calendarDay = warmupDayNumber(input.warmup.startDate, dayKey);
  const day = calendarDay < 1 ? 0 : (input.state?.day ?? calendarDay);
  return { dayKey, day, dailyLimit: dailyLimitForDay(input.schedule, day) };
}

/**
 * The first instant after `now` that lies on a later calendar day in the time zone: when
 * today's caps end. Found by bisection on the day key, so DST days of 23 or 25 hours and
 * zones with half-hour offsets need no special case.
 */
export function nextDayStart(now: number, timeZone: string = DEFAULT_TIME_ZONE): number {
  const dayOf = dayKeyFormatter(timeZone);
  const today = dayOf(now);
  let before = now;
  // No calendar day is longer than 25 hours; 27 leaves room for the odd zone change.
  let after = now + 27 * 3600_000;
  while (after - before > 1) {
    const middle = Math.floor((before + after) / 2);
    if (dayOf(middle) === today) before = middle;
    else after = middle;
  }
  return after;
}

export interface WarmupTodayInput {
  schedule: readonly WarmupStepSpec[];
  /** The IP's warm-up start date (YYYY-MM-DD, pool time zone). */
  startDate: string;
  timeZone?: string;
  /** The pool's minDeliveredRatio; DEFAULT_MIN_DELIVERED_RATIO when absent. */
  threshold?: number;
  now: number;
  /** The state as persisted; absent when the IP was never seen. */
  stored?: WarmupState;
  /** The counters of stored.lastDayKey, the last day the state was set for. */
  lastDay?: { delivered: number; attempted: number };
}

export interface WarmupToday extends WarmupCap {
  day: number;
  dailyLimit: number;
  /** The state that applies today; undefined before the start date (nothing to keep). */
  state: WarmupState | undefined;
  /** true when `state` differs from `stored` and should be persisted. */
  changed: boolean;
  /** true when today began by holding the IP on its day (a poor or idle previous day). */
  held: boolean;
}

/**
 * Where a warming IP stands today: the persisted state, advanced to today when a new day
 * began (advanceWarmupState), and the cap that follows. What the scheduler enforces and
 * what RelayPool status shows both come from here.
 */
export function warmupToday(input: WarmupTodayInput): WarmupToday {
  const dayKey = calendarDayKey(input.now, input.timeZone ?? DEFAULT_TIME_ZONE);
  if (warmupDayNumber(input.startDate, dayKey) < 1) {
    return { dayKey, day: 0, dailyLimit: 0, state: undefined, changed: false, held: false };
  }
  let state: WarmupState;
  let held = false;
  if (input.stored === undefined) {
    state = initialWarmupState(input.startDate, dayKey);
  } else {
    const advanced = advanceWarmupState(input.stored, {
      today: dayKey,
      yesterdayDelivered: input.lastDay?.delivered ?? 0,
      yesterdayAttempted: input.lastDay?.attempted ?? 0,
      ...(input.threshold === undefined ? {} : { threshold: input.threshold }),
    });
    state = advanced.state;
    held = advanced.held;
  }
  const changed =
    input.stored === undefined ||
    input.stored.day !== state.day ||
    input.stored.lastDayKey !== state.lastDayKey;
  return {
    dayKey,
    day: state.day,
    dailyLimit: dailyLimitForDay(input.schedule, state.day),
    state,
    changed,
    held,
  };
}

function dayKeyToUtc(key: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(key);
  if (match === null) throw new BadDateError(key);
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const utc = Date.UTC(year, month - 1, day);
  const date = new Date(utc);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || year < 1970) {
    throw new BadDateError(key);
  }
  return utc;
}
