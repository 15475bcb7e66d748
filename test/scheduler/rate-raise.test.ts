/**
 * Raising a rate speeds up the backlog already waiting: a destination's parked mail was given
 * turns at the old pace, and a pool change that raises the rate closes those turns up, so
 * the waiting mail leaves at the new pace instead of the one it was planned with.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { IP1, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const SLOW = 6;
const FAST = 600;
const MESSAGES = 40;
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 10 });
const arrivals: number[] = [];
let sink: SmtpSink;
let relay: ShapingFixture;

const policy = (messagesPerMinute: number) => [
  { name: 'raise', match: { domains: ['raise.test'] }, perIp: { messagesPerMinute } },
];

before(async () => {
  sink = await startSmtpSink({
    host: '127.0.0.23',
    port: 0,
    keep: false,
    onMessage: () => void arrivals.push(clock.now()),
  });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '2000' },
    spec: {
      ips: [IP1],
      routes: [{ domains: ['raise.test'], host: `127.0.0.23:${sink.port}` }],
      ratePolicies: policy(SLOW),
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

test('a raised rate applies to mail already waiting, not only to new mail', async (t) => {
  await Promise.all(
    Array.from({ length: MESSAGES }, (_, i) => relay.submit({ to: [`user${i}@raise.test`] })),
  );
  await waitFor('the first deliveries at the slow rate', () => arrivals.length >= 3, {
    timeoutMs: 120_000,
  });
  const raisedAt = clock.now();
  const waiting = MESSAGES - arrivals.length;
  // When the rest would leave at the slow pace: one every minute / SLOW.
  const slowPlan = (waiting * 60_000) / SLOW;
  await relay.updatePool({ ratePolicies: policy(FAST) });
  await waitFor(`all ${MESSAGES} delivered`, () => arrivals.length >= MESSAGES, {
    timeoutMs: 120_000,
  });
  const took = (arrivals.at(-1) as number) - raisedAt;
  t.diagnostic(
    `${waiting} waiting when the rate went from ${SLOW} to ${FAST} a minute: delivered ` +
      `${(took / 1000).toFixed(0)} clock s later; at the old pace it would have taken ` +
      `${(slowPlan / 1000).toFixed(0)} s`,
  );
  assert.ok(
    took < slowPlan / 2,
    `the backlog kept its old pace: ${took} ms for ${waiting} messages`,
  );
});
