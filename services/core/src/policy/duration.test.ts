import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DAY,
  durationOr,
  formatDuration,
  HOUR,
  MINUTE,
  parseDuration,
  SECOND,
} from './duration.ts';
import { BadDurationError } from './errors.ts';

test('single-unit durations', () => {
  assert.equal(parseDuration('90s'), 90 * SECOND);
  assert.equal(parseDuration('10m'), 10 * MINUTE);
  assert.equal(parseDuration('4h'), 4 * HOUR);
  assert.equal(parseDuration('3d'), 3 * DAY);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('0s'), 0);
});

test('compound durations, largest unit first', () => {
  assert.equal(parseDuration('1h30m'), 90 * MINUTE);
  assert.equal(parseDuration('2d12h'), 60 * HOUR);
  assert.equal(parseDuration('1m30s500ms'), 90_500);
  assert.equal(parseDuration('1d1h1m1s1ms'), DAY + HOUR + MINUTE + SECOND + 1);
});

function refuses(value: string, reason: RegExp): void {
  assert.throws(
    () => parseDuration(value),
    (error: unknown) =>
      error instanceof BadDurationError &&
      error.code === 'HIKYAKU_BAD_DURATION' &&
      error.value === value &&
      error.message.includes(JSON.stringify(value)) &&
      reason.test(error.message),
    value,
  );
}

test('bad durations are refused with the value named', () => {
  refuses('', /empty/);
  refuses('90', /missing unit/);
  refuses('10M', /unexpected "10M"/);
  refuses('1.5h', /unexpected/);
  refuses('-5m', /unexpected "-5m"/);
  refuses(' 5m', /unexpected/);
  refuses('5m ', /unexpected " "/);
  refuses('5 m', /unexpected/);
  refuses('1w', /unexpected/);
  refuses('h', /unexpected/);
  refuses('30m1h', /largest first/);
  refuses('1h1h', /largest first/);
  refuses('99999999999999999d', /too large/);
});

test('a non-string is refused rather than coerced', () => {
  assert.throws(() => parseDuration(undefined as unknown as string), BadDurationError);
  assert.throws(() => parseDuration(600 as unknown as string), BadDurationError);
});

test('durationOr falls back only when the field is absent', () => {
  assert.equal(durationOr(undefined, 42), 42);
  assert.equal(durationOr('1s', 42), 1000);
  assert.throws(() => durationOr('', 42), BadDurationError);
});

test('formatDuration writes the shortest spec form and round-trips', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(90 * MINUTE), '1h30m');
  assert.equal(formatDuration(72 * HOUR), '3d');
  assert.equal(formatDuration(1500), '1s500ms');
  for (const ms of [1, 999, 60_000, 3_723_004, 5 * DAY + 7]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
  assert.throws(() => formatDuration(-1), BadDurationError);
  assert.throws(() => formatDuration(1.5), BadDurationError);
});

test('the field a bad duration came from is named first', () => {
  assert.throws(
    () => parseDuration('10 min', 'retry.maxAge'),
    (error: unknown) =>
      error instanceof BadDurationError &&
      error.field === 'retry.maxAge' &&
      error.message.startsWith('retry.maxAge: bad duration "10 min"'),
  );
  assert.throws(() => durationOr('x', 1, 'f'), /^BadDurationError: f: bad duration "x"/);
});
