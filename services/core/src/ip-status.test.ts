import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestRedis, type TestRedis } from '@hikyaku/testing';
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from './contract/redis-keys.ts';
import { outcomeField, readIpStatus, readWarmup, throttleField } from './ip-status.ts';
import { compilePool } from './pool/compile.ts';

let infra: TestRedis;
let redis: Redis;

const pool = compilePool(
  {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'tx', namespace: 'mail' },
    spec: {
      ips: [
        { address: '203.0.113.10', hostname: 'mta1.example.com' },
        {
          address: '203.0.113.11',
          hostname: 'mta2.example.com',
          warmup: { startDate: '2026-11-01' },
        },
        {
          address: '203.0.113.12',
          hostname: 'mta3.example.com',
          warmup: { startDate: '2026-12-01' },
        },
      ],
      warmup: {
        schedule: [
          { day: 1, dailyLimit: 50 },
          { day: 2, dailyLimit: 100 },
          { day: 3, dailyLimit: 200 },
        ],
      },
      timeZone: 'Asia/Tokyo',
    },
  },
  { assignment: { '203.0.113.10': 'tx-sender-0', '203.0.113.11': 'tx-sender-1' } },
);
// 2026-11-02 10:00 in Tokyo.
const NOW = Date.parse('2026-11-02T01:00:00Z');

before(async () => {
  infra = await startTestRedis('ip-status-test');
  redis = infra.redis;
});

after(async () => {
  await infra?.close();
});

test('with nothing stored, the calendar decides the day and nothing was sent', async () => {
  const rows = await readIpStatus(redis, pool, NOW);
  assert.deepEqual(rows, [
    {
      address: '203.0.113.10',
      pod: 'tx-sender-0',
      warmupDay: null,
      dailyLimit: null,
      sentToday: 0,
      state: 'Active',
      throttled: [],
    },
    {
      address: '203.0.113.11',
      pod: 'tx-sender-1',
      warmupDay: 2,
      dailyLimit: 100,
      sentToday: 0,
      state: 'Warming',
      throttled: [],
    },
    {
      address: '203.0.113.12',
      warmupDay: 0,
      dailyLimit: 0,
      sentToday: 0,
      state: 'Warming',
      throttled: [],
    },
  ]);
});

test('a stored day is advanced, or held, by the last day delivered ratio', async () => {
  const key = pool.key;
  await redis.hset(
    REDIS_KEYS.warmup(key),
    '203.0.113.11',
    JSON.stringify({ day: 1, lastDayKey: '2026-11-01' }),
  );
  await redis.hset(
    REDIS_KEYS.sentOnDay(key, '2026-11-02'),
    '203.0.113.11',
    '7',
    '203.0.113.10',
    '40',
  );
  const day1 = REDIS_KEYS.outcomesOnDay(key, '2026-11-01');
  await redis.hset(
    day1,
    outcomeField('203.0.113.11', 'attempted'),
    '50',
    outcomeField('203.0.113.11', 'delivered'),
    '44',
  );
  const held = await readIpStatus(redis, pool, NOW);
  assert.deepEqual(
    held.slice(0, 2).map((r) => [r.warmupDay, r.dailyLimit, r.sentToday]),
    [
      [null, null, 40],
      [1, 50, 7],
    ],
  );
  await redis.hset(day1, outcomeField('203.0.113.11', 'delivered'), '46');
  const moved = await readWarmup(redis, pool, NOW);
  const reading = moved.get('203.0.113.11');
  assert.deepEqual(
    [reading?.today.day, reading?.today.dailyLimit, reading?.today.changed],
    [2, 100, true],
  );
  assert.equal(reading?.stored, JSON.stringify({ day: 1, lastDayKey: '2026-11-01' }));
});

test('learned states decide Paused and Throttled and are listed per IP; recovered ones are ignored', async () => {
  const key = REDIS_KEYS.throttle(pool.key);
  const learned = (over: object) =>
    JSON.stringify({
      rate: 38,
      since: NOW - 10_000,
      ceiling: 40,
      clean: 0,
      declared: 300,
      pausedUntil: 0,
      recoverAfter: 90_000,
      reason: 'rate',
      ...over,
    });
  await redis.hset(
    key,
    throttleField('203.0.113.10', 'yahoo'),
    learned({ rate: 1, ceiling: 1, pausedUntil: NOW + 60_000 }),
    throttleField('203.0.113.11', 'default:example.jp'),
    learned({
      connections: { limit: 2, since: NOW - 10_000, declared: 10 },
      reason: 'connections',
    }),
    throttleField('203.0.113.12', 'google'),
    learned({ since: NOW - 7200_000 }),
  );
  const rows = await readIpStatus(redis, pool, NOW);
  assert.deepEqual(
    rows.map((r) => r.state),
    ['Paused', 'Throttled', 'Warming'],
  );
  assert.deepEqual(rows[0]?.throttled, [
    {
      site: 'yahoo',
      state: 'Paused',
      reason: 'rate',
      messagesPerMinute: 1,
      ceiling: 1,
      pausedUntil: NOW + 60_000,
    },
  ]);
  assert.deepEqual(rows[1]?.throttled, [
    {
      site: 'default:example.jp',
      state: 'Throttled',
      reason: 'connections',
      messagesPerMinute: 38,
      ceiling: 40,
      connections: 2,
    },
  ]);
  assert.deepEqual(rows[2]?.throttled, []);
});
