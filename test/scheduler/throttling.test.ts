/**
 * Adaptive throttling against a receiver that answers "421 4.7.0 try again later" to an IP
 * once it has taken R messages from it in the last minute. The relay, declared at 100 a
 * minute, learns in the first minute, then keeps near R with few throttled replies; when
 * the receiver relents it recovers to the declared rate on its own.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { IP1, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const R = 60;
const DECLARED = 100;
const MINUTE = 60_000;
const start = Date.parse('2026-12-01T09:00:00Z');
const clock = createTestClock({ start, speed: 6 });
let strict = true;
const accepted: number[] = [];
const throttled: number[] = [];
let sink: SmtpSink;
let relay: ShapingFixture;

/** Minutes count from the first delivery: minute 0 is the relay's first minute of sending. */
function minuteOf(at: number): number {
  return Math.floor((at - (accepted[0] ?? start)) / MINUTE);
}

before(async () => {
  sink = await startSmtpSink({
    host: '127.0.0.21',
    port: 0,
    keep: false,
    behaviour: {
      onRcpt() {
        const now = clock.now();
        const recent = accepted.filter((at) => at > now - MINUTE).length;
        if (strict && recent >= R) {
          throttled.push(now);
          return { code: 421, message: '4.7.0 Try again later, closing connection' };
        }
        return undefined;
      },
    },
    onMessage: () => void accepted.push(clock.now()),
  });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '2000' },
    spec: {
      ips: [IP1],
      routes: [{ domains: ['picky.test'], host: `127.0.0.21:${sink.port}` }],
      retry: { schedule: ['30s'], maxAge: '1h' },
      ratePolicies: [
        {
          name: 'picky',
          match: { domains: ['picky.test'] },
          perIp: { messagesPerMinute: DECLARED },
          onThrottle: { pause: '20s', factor: 0.55, recoverAfter: '5m' },
        },
      ],
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

test('a throttling receiver is met near its limit and the declared rate comes back', async (t) => {
  await Promise.all(
    Array.from({ length: 900 }, (_, i) => relay.submit({ to: [`user${i}@picky.test`] })),
  );
  await waitFor(
    'five minutes of a strict receiver',
    () => accepted.length > 0 && minuteOf(clock.now()) >= 5,
    { timeoutMs: 120_000 },
  );
  strict = false;
  const recovered = await waitFor(
    'a full minute at the declared rate',
    () => {
      for (let m = 5; m < minuteOf(clock.now()); m++) {
        if (accepted.filter((at) => minuteOf(at) === m).length >= 0.8 * DECLARED) return m + 1;
      }
      return 0;
    },
    { timeoutMs: 120_000 },
  );

  const perMinute = (list: number[], m: number) => list.filter((at) => minuteOf(at) === m).length;
  const minutes = Array.from({ length: minuteOf(clock.now()) }, (_, m) => m);
  t.diagnostic(
    `accepted per minute: ${minutes.map((m) => perMinute(accepted, m)).join(' ')}; ` +
      `421 per minute: ${minutes.map((m) => perMinute(throttled, m)).join(' ')}; ` +
      `receiver strict for minutes 0-4, R=${R}, declared ${DECLARED}; ` +
      `back at >= 80% of declared in minute ${recovered - 1}`,
  );
  const steady = [1, 2, 3, 4];
  const steadyAccepted = steady.reduce((n, m) => n + perMinute(accepted, m), 0);
  const steadyThrottled = steady.reduce((n, m) => n + perMinute(throttled, m), 0);
  const average = steadyAccepted / steady.length;
  const share = steadyThrottled / (steadyAccepted + steadyThrottled);
  t.diagnostic(
    `minutes 1-4: ${average.toFixed(1)} accepted a minute (${((100 * average) / R).toFixed(0)}% of R), ` +
      `${(100 * share).toFixed(1)}% throttled replies`,
  );
  assert.ok(average >= 0.8 * R, `only ${average} a minute after the first minute`);
  assert.ok(share < 0.05, `${(100 * share).toFixed(1)}% of replies were 421`);
  assert.ok(perMinute(throttled, 0) > 0, 'the receiver did throttle in the first minute');
  const signals = await relay.schedulers[0]?.registry.metrics();
  assert.match(
    signals ?? '',
    /hikyaku_scheduler_throttle_signals_total\{[^}]*policy="picky"[^}]*\} [1-9]/,
  );
});
