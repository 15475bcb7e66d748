/**
 * Warm-up: a new IP on a 50/100/200 schedule beside a warm IP. Days pass by moving the
 * test clock; what each IP sent on each day is read from the `scheduled` events, and the
 * RelayPool status rows (readIpStatus) must show the day and cap the scheduler enforced.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { RelayPoolSpec } from '@hikyaku/core';
import { outcomeField, REDIS_KEYS, readIpStatus } from '@hikyaku/core';
import { calendarDayKey } from '@hikyaku/core/policy';
import { createTestClock, type TestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { countBy, IP1, IP2, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const DAY = 86_400_000;
const DAY1 = Date.parse('2026-11-01T00:00:00Z');
const WARMING = IP2.address;
const WARM = IP1.address;
const cleanups: (() => Promise<void>)[] = [];

after(async () => {
  for (const c of cleanups) await c();
});

async function start(overflow: 'defer' | 'spill', port?: (sink: SmtpSink) => void) {
  const clock = createTestClock({ start: DAY1 + 10 * 3600_000 });
  const sink = await startSmtpSink({ host: '127.0.0.22', port: 0, keep: false });
  port?.(sink);
  const spec: Partial<RelayPoolSpec> = {
    ips: [IP1, { ...IP2, warmup: { startDate: '2026-11-01' } }],
    routes: [{ domains: ['warm.test'], host: `127.0.0.22:${sink.port}` }],
    retry: { schedule: ['12h'], maxAge: '72h' },
    warmup: {
      schedule: [
        { day: 1, dailyLimit: 50 },
        { day: 2, dailyLimit: 100 },
        { day: 3, dailyLimit: 200 },
      ],
      overflow,
      minDeliveredRatio: 0.9,
    },
    ratePolicies: [{ name: 'default', perIp: { messagesPerMinute: 100_000, connections: 20 } }],
  };
  const relay = await startShapingFixture({
    clock,
    spec,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '200' },
  });
  cleanups.push(async () => {
    await relay.stop();
    await sink.close();
  });
  return { clock, sink, relay };
}

function sentPerDay(relay: ShapingFixture): Map<string, number> {
  return countBy(
    relay.eventsOf('scheduled'),
    (e) => `${e.ip} day${Math.floor((e.at - DAY1) / DAY) + 1}`,
  );
}

async function submit(relay: ShapingFixture, clock: TestClock, count: number, tag: string) {
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      relay.submit({ to: [`${tag}${i}@warm.test`], receivedAt: clock.now() }),
    ),
  );
}

/** The warming IP's recipients the scheduler counted as attempted and delivered on one day. */
async function countedOn(relay: ShapingFixture, day: number) {
  const key = REDIS_KEYS.outcomesOnDay(relay.pool.key, calendarDayKey(DAY1 + (day - 1) * DAY));
  const [delivered, attempted] = await relay.redis.hmget(
    key,
    outcomeField(WARMING, 'delivered'),
    outcomeField(WARMING, 'attempted'),
  );
  return { delivered: Number(delivered ?? 0), attempted: Number(attempted ?? 0) };
}

/**
 * Waits until the result of every recipient the warming IP was given is counted. The first
 * look of a new day decides the IP's step from these counters of the day before, and the
 * result stage counts a result on the day it records it: one still on its way when the
 * clock moves on would be missing from that decision (deferrals, slower to record, most
 * often), so the clock may move only once all are in.
 */
async function resultsCounted(relay: ShapingFixture, today: number): Promise<void> {
  const given = relay.eventsOf('scheduled').filter((e) => e.ip === WARMING).length;
  await waitFor(
    `the results of the warming IP's ${given} recipients counted`,
    async () => {
      let attempted = 0;
      for (let day = 1; day <= today; day++) attempted += (await countedOn(relay, day)).attempted;
      return attempted >= given;
    },
    { timeoutMs: 20_000 },
  );
}

async function settle(relay: ShapingFixture, scheduled: number) {
  await waitFor(`${scheduled} dispatches`, () => relay.eventsOf('scheduled').length >= scheduled, {
    timeoutMs: 20_000,
  });
  // Nothing more may leave today: give a wrongly admitted item the time to show up.
  await new Promise((r) => setTimeout(r, 600));
}

test('spill: the new IP sends its 50, the warm IP takes the rest the same day', async (t) => {
  const { clock, relay } = await start('spill');
  await submit(relay, clock, 300, 'spill');
  await settle(relay, 300);
  const sent = sentPerDay(relay);
  t.diagnostic(`dispatches per IP and day: ${JSON.stringify(Object.fromEntries(sent))}`);
  assert.equal(sent.get(`${WARMING} day1`), 50);
  assert.equal(sent.get(`${WARM} day1`), 250);
  const status = await readIpStatus(relay.redis, relay.pool, clock.now());
  assert.deepEqual(
    status.map((s) => [s.address, s.warmupDay, s.dailyLimit, s.sentToday, s.state]),
    [
      [WARM, null, null, 250, 'Active'],
      [WARMING, 1, 50, 50, 'Warming'],
    ],
  );
});

test('defer: overflow waits for the next day; a poor day holds the schedule', async (t) => {
  let refuseWarming = false;
  const { clock, relay } = await start('defer', (sink) =>
    sink.setBehaviour({
      onRcpt: (_rcpt, session) =>
        refuseWarming && session.remoteAddress.endsWith(WARMING) && Math.random() < 0.5
          ? { code: 451, message: '4.3.0 Temporary local problem' }
          : undefined,
    }),
  );
  // Day 1: 600 messages; about half are the new IP's share, of which only 50 may leave.
  // Enough wait for day 2 that the new IP can send its 100 even when some of its mail
  // leaves from the warm IP instead: items that wake together at the start of a day
  // collide on the new IP's pacing, and a rate limit (unlike a cap) sends from another IP
  // with room, in defer mode too (admission.ts).
  await submit(relay, clock, 600, 'd1-');
  await waitFor('day 1 dispatches', () => (sentPerDay(relay).get(`${WARMING} day1`) ?? 0) >= 50);
  await waitFor('the warm IP share', () => (sentPerDay(relay).get(`${WARM} day1`) ?? 0) >= 250);
  await new Promise((r) => setTimeout(r, 800));
  const day1 = sentPerDay(relay);
  const waiting = 600 - relay.eventsOf('scheduled').length;
  t.diagnostic(`day 1: ${JSON.stringify(Object.fromEntries(day1))}, ${waiting} waiting`);
  assert.equal(day1.get(`${WARMING} day1`), 50);
  assert.ok(waiting > 100, `only ${waiting} waited for day 2`);
  const status1 = await readIpStatus(relay.redis, relay.pool, clock.now());
  assert.deepEqual(status1[1], {
    address: WARMING,
    pod: 'shaping-sender-0',
    warmupDay: 1,
    dailyLimit: 50,
    sentToday: 50,
    state: 'Warming',
    throttled: [],
  });
  await resultsCounted(relay, 1);
  assert.deepEqual(await countedOn(relay, 1), { delivered: 50, attempted: 50 });

  // Day 2: the IP moved on (day 1 was all delivered); half its mail is now refused.
  refuseWarming = true;
  clock.advance(DAY - 10 * 3600_000 + 60_000);
  const status2 = await readIpStatus(relay.redis, relay.pool, clock.now());
  assert.deepEqual([status2[1]?.warmupDay, status2[1]?.dailyLimit], [2, 100]);
  await waitFor('day 2 dispatches', () => (sentPerDay(relay).get(`${WARMING} day2`) ?? 0) >= 100);
  await new Promise((r) => setTimeout(r, 800));
  const day2 = sentPerDay(relay);
  t.diagnostic(`day 2: ${JSON.stringify(Object.fromEntries(day2))}`);
  assert.equal(day2.get(`${WARMING} day2`), 100);
  await resultsCounted(relay, 2);
  const outcomes2 = await countedOn(relay, 2);
  t.diagnostic(`day 2 outcomes of the warming IP: ${JSON.stringify(outcomes2)}`);
  assert.equal(outcomes2.attempted, 100);
  assert.ok(outcomes2.delivered < 90, `${outcomes2.delivered} of 100 delivered on day 2`);

  // Day 3: under 90% delivered on day 2, so the IP holds day 2 and its cap of 100.
  refuseWarming = false;
  clock.advance(DAY);
  await submit(relay, clock, 200, 'd3-');
  const status3 = await readIpStatus(relay.redis, relay.pool, clock.now());
  t.diagnostic(`day 3 status: ${JSON.stringify(status3)}`);
  assert.deepEqual([status3[1]?.warmupDay, status3[1]?.dailyLimit], [2, 100]);
  await waitFor('day 3 dispatches', () => (sentPerDay(relay).get(`${WARMING} day3`) ?? 0) >= 100);
  await new Promise((r) => setTimeout(r, 800));
  const day3 = sentPerDay(relay);
  t.diagnostic(`day 3: ${JSON.stringify(Object.fromEntries(day3))}`);
  assert.equal(day3.get(`${WARMING} day3`), 100);
  const final = await readIpStatus(relay.redis, relay.pool, clock.now());
  assert.equal(final[1]?.sentToday, 100);
});
