/**
 * The relay on Redis behind Sentinel (REDIS_URL=redis-sentinel://…): under a steady load the
 * master is killed (SIGKILL), Sentinel promotes the replica, and the services follow it by
 * themselves. Every message answered 250 is delivered, and what Redis holds (here the
 * suppression list) is still in force on the new master.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createSuppressionList } from '@hikyaku/core';
import {
  type ChildServer,
  freePort,
  sleep,
  startRedisSentinel,
  startRedisServer,
  waitFor,
} from '@hikyaku/testing';
import { Redis } from 'ioredis';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

const MASTER_NAME = 'hikyaku';

let dir: string;
let master: ChildServer;
let replica: ChildServer;
let sentinel: ChildServer;
let sentinelClient: Redis;
let relay: RelayFixture;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-sentinel-'));
  const masterPort = await freePort();
  master = await startRedisServer({ port: masterPort, dataDir: join(dir, 'master') });
  replica = await startRedisServer({
    port: await freePort(),
    dataDir: join(dir, 'replica'),
    replicaOf: { host: '127.0.0.1', port: masterPort },
  });
  sentinel = await startRedisSentinel({
    port: await freePort(),
    dataDir: join(dir, 'sentinel'),
    masterName: MASTER_NAME,
    master: { host: '127.0.0.1', port: masterPort },
  });
  sentinelClient = new Redis(sentinel.url, { lazyConnect: false });
  sentinelClient.on('error', () => undefined);
  await waitFor('the sentinel to know the replica', async () => {
    const replicas = (await sentinelClient.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as string[][];
    return replicas.length === 1;
  });
  // The first sync waits for Redis' diskless-sync delay (5 s): until it is done, the replica
  // holds nothing, and a failover would lose what the test wrote.
  const replicaClient = new Redis(replica.url);
  try {
    await waitFor('the replica in sync', async () =>
      /master_link_status:up/.test(await replicaClient.info('replication')),
    );
  } finally {
    replicaClient.disconnect();
  }
  const url = `redis-sentinel://127.0.0.1:${sentinel.port}/${MASTER_NAME}`;
  relay = await startRelayFixture({ redisUrl: url, env: { HIKYAKU_STORE_TIMEOUT_MS: '5000' } });
});

after(async () => {
  await relay?.stop();
  sentinelClient?.disconnect();
  for (const server of [sentinel, replica, master]) await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function masterPort(): Promise<number> {
  const [, port] = (await sentinelClient.call(
    'SENTINEL',
    'GET-MASTER-ADDR-BY-NAME',
    MASTER_NAME,
  )) as [string, string];
  return Number(port);
}

function readyz(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function markersDelivered(): Set<string> {
  const found = new Set<string>();
  for (const m of relay.sink.messages) {
    const marker = /^Subject: test (\S+)/m.exec(m.raw.toString('latin1'))?.[1];
    if (marker) found.add(marker);
  }
  return found;
}

/** The ingress' answer to one message for a suppressed recipient (and a valid one). */
async function suppressedReply(): Promise<number | undefined> {
  const client = relayClient(relay.stack, 1);
  try {
    await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: ['gone@example.test'] },
      raw: rawMessage({ from: 'app@hikyaku.test', to: 'gone@example.test', marker: 'gone' }),
    });
    return 250;
  } catch (err) {
    return (err as { responseCode?: number }).responseCode;
  } finally {
    client.close();
  }
}

test('master killed under load: the replica takes over, nothing accepted is lost', {
  timeout: 300_000,
}, async (t) => {
  const admin = new Redis(master.url);
  await createSuppressionList(admin).add(relay.stack.pool.key, 'gone@example.test', {
    reason: 'hard-bounce',
    at: 0,
    source: 'test',
  });
  admin.disconnect();
  assert.equal(await suppressedReply(), 550, 'the suppression list is read through Sentinel');
  assert.match(await readyz(relay.stack.services.ingress.opsPort), /^redis: up$/m);

  let stopping = false;
  const accepted: string[] = [];
  const refusals: string[] = [];
  const client = relayClient(relay.stack, 4);
  const workers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stopping; i++) {
      const marker = `sentinel-${w}-${i}`;
      const to = `${marker}@example.test`;
      try {
        await client.sendMail({
          envelope: { from: 'app@hikyaku.test', to: [to] },
          raw: rawMessage({ from: 'app@hikyaku.test', to, marker, bodyBytes: 1024 }),
        });
        accepted.push(marker);
        await sleep(50);
      } catch (err) {
        refusals.push((err as Error & { response?: string }).response ?? String(err));
        await sleep(250);
      }
    }
  });
  try {
    await waitFor('mail flowing', () => accepted.length >= 40);
    const before = master.port;
    const killedAt = Date.now();
    await master.kill();
    await waitFor('the replica promoted', async () => (await masterPort()) === replica.port, {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    assert.notEqual(replica.port, before);
    // The figure docs/scaling.md quotes.
    t.diagnostic(`replica promoted ${Date.now() - killedAt} ms after the master was killed`);
    const target = accepted.length + 40;
    await waitFor('mail accepted after the failover', () => accepted.length >= target, {
      timeoutMs: 60_000,
    });
  } finally {
    stopping = true;
    await Promise.all(workers);
    client.close();
  }

  await waitFor(
    () => `all ${accepted.length} accepted messages delivered`,
    () => {
      const delivered = markersDelivered();
      return accepted.every((m) => delivered.has(m));
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  assert.deepEqual(refusals, [], 'a Redis failover refuses no mail');
  assert.equal(await suppressedReply(), 550, 'the suppression list holds on the new master');
  for (const service of ['ingress', 'scheduler'] as const) {
    const port = relay.stack.services[service].opsPort;
    await waitFor(`the ${service} reporting redis up`, async () =>
      /^redis: up$/m.test(await readyz(port)),
    );
  }
});
