import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import { Kvm } from '@nats-io/kv';
import { liveKvEntries } from './kv-list.ts';
import type { NatsHandles } from './nats.ts';

let infra: TestNats;
let nats: NatsHandles;

before(async () => {
  infra = await startTestNats('kv-list-test', { streams: false });
  nats = infra.nats;
});

after(async () => {
  await infra?.close();
});

test('lists the live entries under a filter in key order: deleted, purged and other keys left out', async () => {
  const kv = await new Kvm(nats.js).create('kv-list-test', { history: 1 });
  await kv.put('rep.pool-a.10-0-0-2', 'two');
  await kv.put('rep.pool-a.10-0-0-1', 'one');
  await kv.put('rep.pool-a.10-0-0-3', 'three');
  await kv.put('rep.pool-b.10-0-0-1', 'other pool');
  await kv.put('rep.pool-a.10-0-0-1', 'one again');
  await kv.delete('rep.pool-a.10-0-0-3');
  await kv.put('rep.pool-a.10-0-0-4', 'four');
  await kv.purge('rep.pool-a.10-0-0-4');

  const entries = await liveKvEntries(nats.jsm, kv, 'kv-list-test', 'rep.pool-a.>');
  assert.deepEqual(
    entries.map((e) => [e.key, e.string()]),
    [
      ['rep.pool-a.10-0-0-1', 'one again'],
      ['rep.pool-a.10-0-0-2', 'two'],
    ],
  );
  assert.deepEqual(await liveKvEntries(nats.jsm, kv, 'kv-list-test', 'none.>'), []);
});
