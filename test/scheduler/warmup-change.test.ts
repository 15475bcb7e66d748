/**
 * A warm-up change applies to mail already waiting for the next day: a new IP used up its
 * day-1 cap and the rest waits (overflow defer); raising the schedule's day-1 limit lets
 * the waiting mail leave the same day instead of at the next midnight.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RelayPoolSpec } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { IP2, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const DAY1 = Date.parse('2026-11-01T00:00:00Z');
const clock = createTestClock({ start: DAY1 + 10 * 3600_000 });
const arrivals: number[] = [];
let sink: SmtpSink;
let relay: ShapingFixture;

const warmup = (day1: number): RelayPoolSpec['warmup'] => ({
  schedule: [
    { day: 1, dailyLimit: day1 },
    { day: 2, dailyLimit: 200 },
  ],
  overflow: 'defer',
});

before(async () => {
  sink = await startSmtpSink({
    host: '127.0.0.26',
    port: 0,
    keep: false,
    onMessage: () => void arrivals.push(clock.now()),
  });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '200' },
    spec: {
      ips: [{ ...IP2, warmup: { startDate: '2026-11-01' } }],
      routes: [{ domains: ['later.test'], host: `127.0.0.26:${sink.port}` }],
      warmup: warmup(10),
      ratePolicies: [{ name: 'default', perIp: { messagesPerMinute: 100_000, connections: 5 } }],
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

test('raising today’s warm-up limit releases the mail waiting for tomorrow', async (t) => {
  await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      relay.submit({ to: [`user${i}@later.test`], receivedAt: clock.now() }),
    ),
  );
  await waitFor('the day-1 cap of 10', () => arrivals.length >= 10, { timeoutMs: 30_000 });
  // Give a wrongly admitted message the time to show up.
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(arrivals.length, 10, 'the cap holds the rest back');

  await relay.updatePool({ warmup: warmup(40) });
  await waitFor('the 20 waiting', () => arrivals.length >= 30, { timeoutMs: 30_000 });
  const day = (at: number) => Math.floor((at - DAY1) / 86_400_000) + 1;
  t.diagnostic(`arrival days: ${[...new Set(arrivals.map(day))].join(', ')}`);
  assert.deepEqual([...new Set(arrivals.map(day))], [1], 'all on day 1');
});
