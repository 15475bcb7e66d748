/**
 * A stage's Redis writes in one script call, on a real redis-server: counters and their
 * expiry, queued entries added once, the retry index pruned as it is written, the
 * message's open groups with what is left of them, and counts made once per guard key.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RedisBatch } from '@hikyaku/scheduler';
import { startTestRedis, type TestRedis } from '@hikyaku/testing';
import type { Redis } from 'ioredis';

let infra: TestRedis;
let redis: Redis;

before(async () => {
  infra = await startTestRedis('batch-test');
  redis = infra.redis;
});

after(async () => {
  await infra?.close();
});

test('counters add up and expire; zero adds nothing', async () => {
  const key = 'hikyaku:{p}:outcomes:2026-12-05';
  for (let i = 0; i < 2; i++) {
    await new RedisBatch()
      .count(key, '10.0.0.1|delivered', 1, 3600)
      .count(key, '10.0.0.1|attempted', 2, 3600)
      .count(key, '10.0.0.1|blocked', 0, 3600)
      .run(redis);
  }
  assert.deepEqual(await redis.hgetall(key), {
    '10.0.0.1|delivered': '2',
    '10.0.0.1|attempted': '4',
  });
  const ttl = await redis.ttl(key);
  assert.ok(ttl > 3500 && ttl <= 3600, String(ttl));
});

test('a queued entry keeps its first score and gets no expiry unless asked', async () => {
  const key = 'hikyaku:{p}:queued:default';
  await new RedisBatch().addNew(key, 100, 'item-a').run(redis);
  await new RedisBatch().addNew(key, 200, 'item-a').addNew(key, 300, 'item-b').run(redis);
  assert.deepEqual(await redis.zrange(key, 0, -1, 'WITHSCORES'), [
    'item-a',
    '100',
    'item-b',
    '300',
  ]);
  assert.equal(await redis.pttl(key), -1);
});

test('a retry wait drops the entries that fell due and expires with the pool maximum age', async () => {
  const key = 'hikyaku:{p}:retry-waits:example.test';
  await redis.zadd(key, 1000, 'old#1', 5000, 'later#2');
  await new RedisBatch().replaceDue(key, 2000, 9000, 'new#3', 60_000).run(redis);
  assert.deepEqual(await redis.zrange(key, 0, -1, 'WITHSCORES'), [
    'later#2',
    '5000',
    'new#3',
    '9000',
  ]);
  const pttl = await redis.pttl(key);
  assert.ok(pttl > 50_000 && pttl <= 60_000, String(pttl));
});

test('open groups: the last one finished says so and removes the set', async () => {
  const key = 'hikyaku:{p}:msg:M1:open';
  assert.equal(await new RedisBatch().open(key, ['a.test', 'b.test'], 60_000).run(redis), -1);
  assert.ok((await redis.pttl(key)) > 0);
  assert.equal(await new RedisBatch().finish(key, 'a.test').run(redis), 1);
  const counted = new RedisBatch().count('hikyaku:{p}:c', 'x', 1, 60).finish(key, 'b.test');
  assert.equal(await counted.run(redis), 0);
  assert.equal(await redis.exists(key), 0);
  assert.equal(await redis.hget('hikyaku:{p}:c', 'x'), '1');
});

test('counts behind a guard key run once while it lives; the other ops every time', async () => {
  const counters = 'hikyaku:{p}:outcomes:guarded';
  const groups = 'hikyaku:{p}:msg:G1:open';
  const guard = 'hikyaku:{p}:result-counted:job-1';
  await new RedisBatch().open(groups, ['a.test', 'b.test'], 60_000).run(redis);
  const recording = (group: string) =>
    new RedisBatch()
      .finish(groups, group)
      .countOnce(guard, 60_000)
      .count(counters, '10.0.0.1|delivered', 1, 3600);
  assert.deepEqual(await recording('a.test').runCounted(redis), {
    left: 1,
    counted: true,
    keptCopy: -1,
  });
  // The same step again: its counts are skipped, its group's end is not.
  assert.deepEqual(await recording('b.test').runCounted(redis), {
    left: 0,
    counted: false,
    keptCopy: -1,
  });
  assert.equal(await redis.hget(counters, '10.0.0.1|delivered'), '1');
  const pttl = await redis.pttl(guard);
  assert.ok(pttl > 50_000 && pttl <= 60_000, String(pttl));
  // A batch without a guard counts every time.
  assert.deepEqual(
    await new RedisBatch().count(counters, '10.0.0.1|delivered', 1, 3600).runCounted(redis),
    { left: -1, counted: true, keptCopy: -1 },
  );
  assert.equal(await redis.hget(counters, '10.0.0.1|delivered'), '2');
});

test('an empty batch sends nothing', async () => {
  const processed = async () =>
    Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1]);
  const first = await processed();
  assert.equal(await new RedisBatch().run(redis), -1);
  assert.equal((await processed()) - first, 1, 'only the first INFO counted');
});

test('a message split into 100,000 groups opens them in one call', async () => {
  const key = 'hikyaku:{p}:msg:BIG:open';
  const groups = Array.from({ length: 100_000 }, (_, i) => `example.test#${i}`);
  await new RedisBatch().open(key, groups, 60_000).run(redis);
  assert.equal(await redis.scard(key), 100_000);
});

test("a body ends with its message's last group, and hands back its kept copy", async () => {
  const groups = 'hikyaku:{p}:msg:M1:open';
  const ended = 'hikyaku:{bodies}:ended';
  const copied = 'hikyaku:{bodies}:copied';
  await new RedisBatch().open(groups, ['a.test', 'b.test'], 60_000).run(redis);
  await redis.hset(copied, 'M1', '41');
  const groupEnd = (group: string) =>
    new RedisBatch().finish(groups, group).endBody(ended, copied, 17, 'M1').runCounted(redis);
  // A group is left: the body is still needed.
  assert.equal((await groupEnd('a.test')).keptCopy, -1);
  assert.deepEqual(await redis.zrange(ended, 0, -1), []);
  // The last group: the body ended, and its kept copy is handed back once.
  assert.deepEqual(await groupEnd('b.test'), { left: 0, counted: true, keptCopy: 41 });
  assert.deepEqual(await redis.zrange(ended, 0, -1), ['17']);
  assert.equal(await redis.hexists(copied, 'M1'), 0);
  assert.equal((await groupEnd('b.test')).keptCopy, 0, 'recorded again: no copy to remove');
});
