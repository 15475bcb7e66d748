/**
 * One busy mailbox must not slow its neighbours: the receiver answers Gmail's "450 4.2.1
 * The user you are trying to contact is receiving mail at a rate that prevents additional
 * messages from being delivered" for one recipient. That recipient is retried on the
 * pool's schedule; every other recipient of the site goes out at the declared rate, and
 * nothing is learned about the (IP, site) pair.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readThrottleStates } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { IP1, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const DECLARED = 60;
const OTHERS = 150;
const MINUTE = 60_000;
const BUSY = 'busy@gmail.test';
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 6 });
const accepted: number[] = [];
let busyRefusals = 0;
let first = 0;
let sink: SmtpSink;
let relay: ShapingFixture;

before(async () => {
  sink = await startSmtpSink({
    host: '127.0.0.24',
    port: 0,
    keep: false,
    behaviour: {
      onRcpt(rcpt) {
        if (rcpt !== BUSY || busyRefusals >= 2) return undefined;
        busyRefusals++;
        return {
          code: 450,
          message:
            '4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time. - gsmtp',
        };
      },
    },
    onMessage: (m) => {
      const now = clock.now();
      if (first === 0) first = now;
      if (!m.rcpts.includes(BUSY)) accepted.push(now);
    },
  });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '2000' },
    spec: {
      ips: [IP1],
      routes: [{ domains: ['gmail.test'], host: `127.0.0.24:${sink.port}` }],
      retry: { schedule: ['30s'], maxAge: '1h' },
      ratePolicies: [
        {
          name: 'gmail',
          match: { domains: ['gmail.test'] },
          perIp: { messagesPerMinute: DECLARED },
          onThrottle: { pause: '1m', factor: 0.5, recoverAfter: '5m' },
        },
      ],
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

test('a 4.2.1 for one recipient delays that recipient only', async (t) => {
  await relay.submit({ to: [BUSY] });
  await Promise.all(
    Array.from({ length: OTHERS }, (_, i) => relay.submit({ to: [`user${i}@gmail.test`] })),
  );
  await waitFor(
    'the busy recipient delivered on its third try',
    () => relay.eventsOf('delivered').some((e) => e.rcpt === BUSY),
    { timeoutMs: 90_000 },
  );
  await waitFor(
    'two full minutes of the others',
    () => accepted.length > 0 && clock.now() - first >= 2 * MINUTE,
    {
      timeoutMs: 90_000,
    },
  );
  const perMinute = [0, 1].map(
    (m) => accepted.filter((at) => Math.floor((at - first) / MINUTE) === m).length,
  );
  t.diagnostic(`others accepted per minute: ${perMinute.join(' ')} (declared ${DECLARED})`);
  for (const n of perMinute) assert.ok(n >= 0.9 * DECLARED, `only ${n} a minute`);
  const busy = relay.eventsOf('deferred').filter((e) => e.rcpt === BUSY);
  assert.equal(busy.length, 2, 'the busy recipient was deferred twice, then delivered');
  assert.equal(relay.eventsOf('deferred').length, 2, 'nobody else was deferred');
  const states = await readThrottleStates(relay.redis, relay.pool.key, clock.now());
  assert.equal(states.size, 0, 'nothing was learned about the site');
  const metrics = (await relay.schedulers[0]?.registry.metrics()) ?? '';
  assert.doesNotMatch(metrics, /hikyaku_scheduler_throttle_signals_total\{/);
  assert.doesNotMatch(metrics, /hikyaku_scheduler_deferrals_total\{[^}]*reason="throttled"/);
});
