/**
 * Durations as RelayPool specs write them: whole numbers with a unit, largest unit first,
 * each unit at most once ("90s", "10m", "4h", "3d", "1h30m", "2d12h"). The grammar is
 * strict on purpose: "10M" (months?), "1.5h" (rounding?) or "30m1h" (typo?) would each
 * mean something a reader could misjudge, so they are refused with the value named.
 */

import { BadDurationError } from './errors.ts';

const UNIT_MS = {
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
} as const;

type Unit = keyof typeof UNIT_MS;

/** Largest first: the order a duration must be written in, and the order it is formatted in. */
const UNIT_ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];

export const SECOND = UNIT_MS.s;
export const MINUTE = UNIT_MS.m;
export const HOUR = UNIT_MS.h;
export const DAY = UNIT_MS.d;

/**
 * Parses a spec duration into milliseconds; throws BadDurationError naming the value and,
 * when given, the field it came from ("ratePolicies[docomo].onThrottle.pause").
 */
export function parseDuration(value: string, field?: string): number {
  if (typeof value !== 'string' || value.length === 0) {
    throw new BadDurationError(String(value), 'empty; write e.g. 90s, 10m, 4h, 3d or 1h30m', field);
  }
  if (/^\d+$/.test(value)) {
    throw new BadDurationError(value, 'missing unit (ms, s, m, h or d)', field);
  }
  let total = 0;
  let position = 0;
  let previousRank = -1;
  // Sticky, and local: a shared /y regex would carry lastIndex from one call into the next.
  const part = /(\d+)(ms|d|h|m|s)/y;
  while (position < value.length) {
    part.lastIndex = position;
    const match = part.exec(value);
    if (match === null) {
      throw new BadDurationError(
        value,
        `unexpected ${JSON.stringify(value.slice(position))}; write e.g. 90s, 10m, 4h, 3d or 1h30m`,
        field,
      );
    }
    const amount = Number(match[1]);
    const unit = match[2] as Unit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= previousRank) {
      throw new BadDurationError(
        value,
        'units must each appear once, largest first (1h30m)',
        field,
      );
    }
    previousRank = rank;
    total += amount * UNIT_MS[unit];
    position = part.lastIndex;
  }
  if (!Number.isSafeInteger(total)) {
    throw new BadDurationError(value, 'too large', field);
  }
  return total;
}

/** parseDuration for an optional spec field: the fallback (in ms) when the field is absent. */
export function durationOr(value: string | undefined, fallbackMs: number, field?: string): number {
  return value === undefined ? fallbackMs : parseDuration(value, field);
}

/**
 * The shortest spec form of a duration ("1h30m", "0s"), so that messages and statuses show
 * durations the way the operator wrote them. parseDuration(formatDuration(ms)) === ms for
 * every whole, non-negative ms.
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new BadDurationError(
      String(ms),
      'only whole, non-negative milliseconds can be formatted',
    );
  }
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of UNIT_ORDER) {
    const size = UNIT_MS[unit];
    const amount = Math.floor(rest / size);
    if (amount > 0) {
      out += `${amount}${unit}`;
      rest -= amount * size;
    }
  }
  return out;
}
