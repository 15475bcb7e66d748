import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { STREAMS } from '@hikyaku/core';
import type { ChildServer } from './child-servers.ts';
import { startTestNats, startTestRedis } from './test-servers.ts';

/** The data folder a child server was started with (the argument after `flag`). */
function dataDirOf(server: ChildServer, flag: string): string {
  const args = server.process.spawnargs;
  return args[args.indexOf(flag) + 1] as string;
}

test('a test NATS has the relay streams and a connected client; close ends both and removes its data', async () => {
  const infra = await startTestNats('test-servers-nats');
  const dir = dataDirOf(infra.server, '-sd');
  try {
    assert.equal(
      (await infra.nats.jsm.streams.info(STREAMS.envelopes)).config.name,
      STREAMS.envelopes,
    );
  } finally {
    await infra.close();
  }
  assert.equal(infra.nats.nc.isClosed(), true);
  assert.notEqual(infra.server.process.exitCode ?? infra.server.process.signalCode, null);
  assert.equal(existsSync(dir), false);
});

test('a test NATS asked for no streams has none', async () => {
  const infra = await startTestNats('test-servers-bare', { streams: false });
  try {
    assert.equal((await infra.nats.jsm.getAccountInfo()).streams, 0);
  } finally {
    await infra.close();
  }
});

test('a test Redis answers its client; close ends both and removes its data', async () => {
  const infra = await startTestRedis('test-servers-redis');
  const dir = dataDirOf(infra.server, '--dir');
  try {
    assert.equal(await infra.redis.ping(), 'PONG');
  } finally {
    await infra.close();
  }
  assert.equal(infra.redis.status, 'end');
  assert.notEqual(infra.server.process.exitCode ?? infra.server.process.signalCode, null);
  assert.equal(existsSync(dir), false);
});
