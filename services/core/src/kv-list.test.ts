import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildServer, freePort, startNatsServer } from '@hikyaku/testing';
import { Kvm } from '@nats-io/kv';
import { liveKvEntries } from './kv-list.ts';
import { connectNats, type NatsHandles } from './nats.ts';

let dir: string;
let server: ChildServer;
let nats: NatsHandles;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-kv-list-'));
  server = await startNatsServer({ port: await freePort(), dataDir: dir });
  nats = await connectNats({ url: server.url, name: 'kv-list-test' });
});

after(async () => {
  await nats?.nc.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
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
