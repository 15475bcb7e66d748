import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildServer, freePort, startNatsServer } from '@hikyaku/testing';
import { EnvReader, readCommonConfig } from './config.ts';
import { STREAMS } from './contract/subjects.ts';
import { connectNats, ensureStreams } from './nats.ts';

let dir: string;
let server: ChildServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-nats-auth-'));
  server = await startNatsServer({ port: await freePort(), dataDir: dir, token: 's3cret' });
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a service reads NATS_TOKEN and connects to a server that requires it', async () => {
  const r = new EnvReader({ HIKYAKU_POOL: 'p', NATS_URL: server.url, NATS_TOKEN: 's3cret' });
  const config = r.done(readCommonConfig(r, { httpPort: 0 }));
  const nats = await connectNats({
    url: config.natsUrl,
    name: 'auth-test',
    credentials: config.natsCredentials,
  });
  await ensureStreams(nats.jsm);
  assert.equal((await nats.jsm.streams.info(STREAMS.envelopes)).config.name, STREAMS.envelopes);
  await nats.nc.close();
});

test('without the token the server refuses the connection', async () => {
  await assert.rejects(
    connectNats({ url: server.url, name: 'no-auth', maxReconnectAttempts: 0 }),
    /Authorization|AUTHORIZATION|auth/i,
  );
});

test('contradictory credentials are a configuration error naming the variables', () => {
  const r = new EnvReader({ HIKYAKU_POOL: 'p', NATS_TOKEN: 't', NATS_USER: 'u' });
  assert.throws(() => r.done(readCommonConfig(r, { httpPort: 0 })), /NATS_TOKEN or NATS_USER/);
});
