/**
 * The per-IP status rows come from where the scheduler keeps its warm-up state and daily
 * counters (Redis), read through the same code, so a row shows the day and cap the
 * scheduler enforces, which is not always the calendar's: an IP whose delivery ratio fell
 * short repeats its day.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSourceReports, REDIS_KEYS, readIpStatus } from '@hikyaku/core';
import { calendarDayKey, dailyLimitForDay, warmupCap } from '@hikyaku/core/policy';
import { waitFor } from '@hikyaku/testing';
import { type OperatorFixture, type RunningOperator, startOperatorFixture } from './harness.ts';

let fx: OperatorFixture;
let op: RunningOperator;

before(async () => {
  fx = await startOperatorFixture({ redis: true });
  op = await fx.startOperator();
  await waitFor('the operator to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
});
after(() => fx.stop());

const DAY = 86_400_000;
const schedule = [
  { day: 1, dailyLimit: 50 },
  { day: 5, dailyLimit: 1000 },
  { day: 30, dailyLimit: 100_000 },
];

describe('status rows', () => {
  it('a warming IP shows the day and cap the scheduler enforces, and what it sent today', async () => {
    const today = calendarDayKey(Date.now(), 'UTC');
    const tenDaysAgo = calendarDayKey(Date.now() - 9 * DAY, 'UTC');
    const key = `${fx.namespace}_warm`;
    // The scheduler held 192.0.2.10 on day 3 (its delivery ratio fell short); it sent 42 today.
    await fx.redis!.hset(
      REDIS_KEYS.warmup(key),
      '192.0.2.10',
      JSON.stringify({ day: 3, lastDayKey: today }),
    );
    await fx.redis!.hset(REDIS_KEYS.sentOnDay(key, today), '192.0.2.10', '42', '192.0.2.11', '7');

    await fx.createPool('warm', {
      ips: [
        { address: '192.0.2.10', hostname: 'mta1.example.com', warmup: { startDate: tenDaysAgo } },
        { address: '192.0.2.11', hostname: 'mta2.example.com', warmup: { startDate: tenDaysAgo } },
        { address: '192.0.2.12', hostname: 'mta3.example.com' },
      ],
      warmup: { schedule },
    });
    const pool = await fx.waitForCondition('warm', 'Ready', (c) => c.status === 'True', 'Ready');
    const rows = new Map(pool.status?.ips?.map((r) => [r.address, r]));

    const enforced = new Map(
      (await readIpStatus(fx.redis!, (await fx.published('warm'))!, Date.now())).map((s) => [
        s.address,
        s,
      ]),
    );
    const held = rows.get('192.0.2.10');
    assert.equal(held?.warmupDay, 3, 'the day the scheduler holds, not the calendar day 10');
    assert.equal(held?.dailyLimit, dailyLimitForDay(schedule, 3));
    assert.equal(held?.warmupDay, enforced.get('192.0.2.10')?.warmupDay);
    assert.equal(held?.dailyLimit, enforced.get('192.0.2.10')?.dailyLimit);
    assert.equal(held?.sentToday, 42);
    assert.equal(held?.state, 'Warming');
    assert.equal(held?.pod, 'warm-sender-0');

    // No state stored yet: the calendar decides, as it does for the scheduler.
    const fresh = rows.get('192.0.2.11');
    const cap = warmupCap({ schedule, warmup: { startDate: tenDaysAgo }, now: Date.now() });
    assert.equal(fresh?.warmupDay, cap.day);
    assert.equal(fresh?.dailyLimit, cap.dailyLimit);
    assert.equal(fresh?.warmupDay, enforced.get('192.0.2.11')?.warmupDay);
    assert.equal(fresh?.sentToday, 7);

    const warm = rows.get('192.0.2.12');
    assert.deepEqual(warm, {
      address: '192.0.2.12',
      pod: 'warm-sender-2',
      sentToday: 0,
      state: 'Active',
    });
    assert.equal(pool.status?.warmingIps, 2);
    assert.equal(pool.status?.sentToday, 49);

    // The same numbers for the chart's dashboard and alerts.
    const text = await op.registry.metrics();
    const labels = `pool="${key}",ip="192.0.2.10"`;
    assert.match(text, new RegExp(`hikyaku_operator_ip_warmup_day\\{${labels}[^}]*\\} 3\\n`));
    assert.match(text, new RegExp(`hikyaku_operator_ip_sent_today\\{${labels}[^}]*\\} 42\\n`));
    assert.match(
      text,
      new RegExp(
        `hikyaku_operator_pool_condition\\{pool="${key}",condition="Ready",status="True",reason="SendersReady"[^}]*\\} 1\\n`,
      ),
    );
  });

  it('follows the counters as mail is sent', async () => {
    const today = calendarDayKey(Date.now(), 'UTC');
    await fx.redis!.hincrby(REDIS_KEYS.sentOnDay(`${fx.namespace}_warm`, today), '192.0.2.12', 5);
    const pool = await waitFor('the new count', async () => {
      const p = await fx.getPool('warm');
      return p?.status?.sentToday === 54 ? p : undefined;
    });
    assert.equal(pool.status?.ips?.find((r) => r.address === '192.0.2.12')?.sentToday, 5);
  });

  it('shows an assigned IP its sender reported missing on the pod as Degraded, and its return', async () => {
    const reports = await openSourceReports(fx.nats.js);
    const key = `${fx.namespace}_warm`;
    await reports.reportAbsent(key, {
      address: '192.0.2.11',
      pod: 'warm-sender-1',
      since: Date.now(),
    });
    const degraded = await fx.waitForCondition(
      'warm',
      'Degraded',
      (c) => c.status === 'True' && c.reason === 'SourceAddressAbsent',
      'Degraded for the absent address',
    );
    const condition = degraded.status?.conditions?.find((c) => c.type === 'Degraded');
    assert.match(condition?.message ?? '', /192\.0\.2\.11 on pod warm-sender-1/);
    await reports.clearAbsent(key, '192.0.2.11');
    await fx.waitForCondition('warm', 'Degraded', (c) => c.status === 'False', 'not Degraded');
  });
});
