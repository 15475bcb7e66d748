import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildServer, freePort, startNatsServer } from '@hikyaku/testing';
import { type BodyStore, createBodyStore } from './body-store.ts';
import { BodyMissingError } from './errors.ts';
import { connectNats, ensureStreams, type NatsHandles } from './nats.ts';

let dir: string;
let server: ChildServer;
let nats: NatsHandles;
let bodies: BodyStore;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-bodies-'));
  server = await startNatsServer({ port: await freePort(), dataDir: dir });
  nats = await connectNats({ url: server.url, name: 'body-store-test' });
  await ensureStreams(nats.jsm);
  bodies = await createBodyStore({ js: nats.js, jsm: nats.jsm, replicas: 1, maxAgeMs: 3_600_000 });
});

after(async () => {
  await nats?.nc.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

for (const [size, store] of [
  [1024, 'stream'],
  [200 * 1024, 'stream'],
  [3 * 1024 * 1024, 'object'],
] as const) {
  test(`a ${size}-byte body is kept in the ${store} store and read back intact`, async () => {
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i++) body[i] = (i * 31) % 251;
    const id = `body-${size}`;
    const ref = await bodies.put(id, body);
    assert.equal(ref.store, store);
    assert.equal(ref.size, size);
    assert.deepEqual(Buffer.from(await bodies.get(id, ref)), body);
    await bodies.remove(id, ref);
    await assert.rejects(bodies.get(id, ref), BodyMissingError);
  });
}
