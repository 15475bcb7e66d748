import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cachedHoldTable, type HoldTable } from './hold-table.ts';

/** The shared table as Redis would hold it, counting whole-table reads. */
function sharedTable() {
  const held = new Map<string, { at: number }>();
  let reads = 0;
  const table: HoldTable<{ at: number }> = {
    async isHeld(_pool, domain) {
      return held.has(domain);
    },
    async hold(_pool, domain, hold) {
      if (held.has(domain)) return false;
      held.set(domain, hold);
      return true;
    },
    async release(_pool, domain) {
      return held.delete(domain);
    },
    async list() {
      reads++;
      return new Map(held);
    },
  };
  return { table, held, reads: () => reads };
}

test('a cached hold table reads the table once per period, however many items ask', async () => {
  const shared = sharedTable();
  let elapsed = 0;
  const cached = cachedHoldTable(shared.table, 1000, undefined, () => elapsed);
  for (let i = 0; i < 50; i++) assert.equal(await cached.isHeld('p', 'example.test'), false);
  assert.equal(shared.reads(), 1);

  // Held elsewhere (the CLI, another replica): seen once the copy is a period old.
  shared.held.set('example.test', { at: 1 });
  elapsed = 999;
  assert.equal(await cached.isHeld('p', 'Example.TEST'), false);
  elapsed = 1000;
  assert.equal(await cached.isHeld('p', 'Example.TEST'), true);
  assert.equal(shared.reads(), 2);
});

test('a hold or release made through the cached table counts at once', async () => {
  const shared = sharedTable();
  const cached = cachedHoldTable(shared.table, 60_000, undefined, () => 0);
  assert.equal(await cached.isHeld('p', 'news.test'), false);
  assert.equal(await cached.hold('p', 'news.test', { at: 1 }), true);
  assert.equal(await cached.isHeld('p', 'news.test'), true);
  assert.equal(await cached.release('p', 'news.test'), true);
  assert.equal(await cached.isHeld('p', 'news.test'), false);
});

test('a failed read is not kept: the next item asks again', async () => {
  const shared = sharedTable();
  let fail = true;
  const flaky: HoldTable<{ at: number }> = {
    ...shared.table,
    async list(pool) {
      if (fail) throw new Error('redis down');
      return shared.table.list(pool);
    },
  };
  const cached = cachedHoldTable(flaky, 60_000, undefined, () => 0);
  await assert.rejects(cached.isHeld('p', 'a.test'), /redis down/);
  fail = false;
  shared.held.set('a.test', { at: 1 });
  assert.equal(await cached.isHeld('p', 'a.test'), true);
});
