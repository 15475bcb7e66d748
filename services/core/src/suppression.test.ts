import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestRedis, type TestRedis } from '@hikyaku/testing';
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from './contract/redis-keys.ts';
import {
  createSuppressionList,
  parseSuppressionEntry,
  type SuppressionList,
  suppressionAddress,
} from './suppression.ts';

let infra: TestRedis;
let redis: Redis;
let list: SuppressionList;

before(async () => {
  infra = await startTestRedis('suppression-test');
  redis = infra.redis;
  list = createSuppressionList(redis);
});

after(async () => {
  await infra?.close();
});

test('addresses are stored in one form: trimmed, lower case, ASCII domain', () => {
  assert.equal(suppressionAddress(' John.Doe@Example.TEST '), 'john.doe@example.test');
  assert.equal(suppressionAddress('u@B\u00fccher.example'), 'u@xn--bcher-kva.example');
  assert.equal(suppressionAddress('Postmaster'), 'postmaster');
});

test('add, lookup in one round trip, remove', async () => {
  const entry = {
    reason: 'hard-bounce',
    at: 1_800_000_000_000,
    reply: { code: 550, enhanced: '5.1.1', text: 'No such user' },
    source: 'scheduler',
  };
  await list.add('p1', 'Gone@Example.test', entry);
  await list.add('p1', 'manual@example.test', { reason: 'manual', at: 1, source: 'cli' });
  const found = await list.lookup('p1', ['gone@example.TEST', 'fine@example.test', 'x@y.test']);
  assert.deepEqual([...found.keys()], ['gone@example.test']);
  assert.deepEqual(found.get('gone@example.test'), entry);
  assert.equal((await list.lookup('p1', [])).size, 0);
  // Pools do not share a list.
  assert.equal((await list.lookup('p2', ['gone@example.test'])).size, 0);
  assert.equal(await list.size('p1'), 2);
  assert.equal(await list.remove('p1', 'GONE@example.test'), true);
  assert.equal(await list.remove('p1', 'gone@example.test'), false);
  assert.equal((await list.lookup('p1', ['gone@example.test'])).size, 0);
});

test('list walks every entry page by page', async () => {
  // More entries than Redis keeps in its compact encoding, which HSCAN returns in one go.
  for (let i = 0; i < 600; i++) {
    await list.add('big', `user${i}@example.test`, { reason: 'manual', at: i, source: 'cli' });
  }
  const seen = new Set<string>();
  let cursor = '0';
  let pages = 0;
  do {
    const page = await list.list('big', { cursor, count: 50 });
    for (const { address, entry } of page.entries) {
      seen.add(address);
      assert.equal(entry.reason, 'manual');
    }
    cursor = page.cursor;
    pages++;
  } while (cursor !== '0');
  assert.equal(seen.size, 600);
  assert.ok(pages > 1);
});

test('an unreadable entry still suppresses', async () => {
  await redis.hset(REDIS_KEYS.suppressions('odd'), 'odd@example.test', 'not json');
  const found = await list.lookup('odd', ['odd@example.test']);
  assert.deepEqual(found.get('odd@example.test'), { reason: 'unknown', at: 0, source: 'unknown' });
  assert.deepEqual(parseSuppressionEntry('{"reason":"complaint"}'), {
    reason: 'complaint',
    at: 0,
    source: 'unknown',
  });
});
