/**
 * Shared limits: two scheduler replicas and two IPs against a rate policy of N messages a
 * minute per IP. The receiver counts what arrives from each source IP in each minute of
 * the (fast) test clock and must never see more than N.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { countBy, IP1, IP2, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const N = 30;
const MINUTES = 3;
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 10 });
let sink: SmtpSink;
let relay: ShapingFixture;
const arrivals: { peer: string; at: number; rcpt: string }[] = [];

before(async () => {
  sink = await startSmtpSink({
    host: '127.0.0.20',
    port: 0,
    keep: false,
    onMessage: (m) =>
      void arrivals.push({ peer: m.peerAddress, at: clock.now(), rcpt: m.rcpts[0] ?? '' }),
  });
  relay = await startShapingFixture({
    clock,
    schedulers: 2,
    env: { HIKYAKU_RATE_SLACK_MS: '5000', HIKYAKU_SCHEDULER_MAX_PARK_MS: '2000' },
    spec: {
      ips: [IP1, IP2],
      routes: [{ domains: ['rate.test'], host: `127.0.0.20:${sink.port}` }],
      ratePolicies: [
        { name: 'rate-test', match: { domains: ['rate.test'] }, perIp: { messagesPerMinute: N } },
      ],
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

test(`two replicas and two IPs never send more than ${N} a minute from one IP`, async (t) => {
  const total = 2 * N * MINUTES;
  const started = clock.now();
  await Promise.all(
    Array.from({ length: total }, (_, i) => relay.submit({ to: [`user${i}@rate.test`] })),
  );
  await waitFor(`${total} deliveries`, () => arrivals.length >= total, { timeoutMs: 120_000 });

  const perMinute = countBy(arrivals, (a) => `${a.peer} ${Math.floor(a.at / 60_000)}`);
  const worst = Math.max(...perMinute.values());
  // The strictest reading: any 60 s of the clock, not only whole minutes.
  let worstSliding = 0;
  for (const ip of [IP1.address, IP2.address]) {
    const times = arrivals
      .filter((a) => a.peer === ip)
      .map((a) => a.at)
      .sort((a, b) => a - b);
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= 60_000) j++;
      worstSliding = Math.max(worstSliding, i - j + 1);
    }
  }
  // What the scheduler itself guarantees: at most N dispatches in any minute plus slack (5 s).
  const scheduled = relay.eventsOf('scheduled');
  let worstDispatch = 0;
  for (const ip of [IP1.address, IP2.address]) {
    const times = scheduled
      .filter((e) => e.ip === ip)
      .map((e) => e.at)
      .sort((a, b) => a - b);
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= 65_000) j++;
      worstDispatch = Math.max(worstDispatch, i - j + 1);
    }
  }
  const dispatchedAt = new Map(scheduled.map((e) => [e.rcpt, e.at]));
  const minutes = (clock.now() - started) / 60_000;
  t.diagnostic(
    `per IP per clock minute: ${JSON.stringify(Object.fromEntries(perMinute))}; ` +
      `worst minute ${worst}, worst sliding 60 s ${worstSliding}, limit ${N}; ` +
      `${total} messages in ${minutes.toFixed(2)} clock minutes; ` +
      `worst dispatches in 65 s ${worstDispatch}`,
  );
  assert.ok(worstDispatch <= N, `the scheduler dispatched ${worstDispatch} in 65 s from one IP`);
  const lags = arrivals.map((a) => a.at - (dispatchedAt.get(a.rcpt) ?? a.at)).sort((a, b) => a - b);
  t.diagnostic(
    `dispatch-to-arrival lag in clock ms: median ${lags[lags.length >> 1]}, max ${lags.at(-1)}`,
  );
  assert.ok(worst <= N, `a receiver minute saw ${worst} > ${N} from one IP`);
  assert.deepEqual(
    [...new Set(arrivals.map((a) => a.peer))].sort(),
    [IP1.address, IP2.address],
    'both IPs send',
  );
  // Both replicas took part in the work.
  const perReplica = await Promise.all(
    relay.schedulers.map(async (s) => {
      const text = await s.registry.metrics();
      return [...text.matchAll(/^hikyaku_scheduler_jobs_scheduled_total\{[^}]*\} (\d+)/gm)]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0);
    }),
  );
  t.diagnostic(`jobs scheduled per replica: ${perReplica.join(', ')}`);
  assert.ok(
    perReplica.every((n) => n > 0),
    'each replica dispatched some mail',
  );
});
