/**
 * The relay on Redis behind Sentinel (REDIS_URL=redis-sentinel://…): under a steady load the
 * master is killed (SIGKILL), Sentinel promotes the replica, and the services follow it by
 * themselves. Every message answered 250 is delivered, what Redis holds (here the
 * suppression list) is still in force on the new master, and a rate-limited site's limit
 * holds across the failover: its receiver never counts more than the limit from one IP in
 * any sliding minute.
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
  type SmtpSink,
  sleep,
  startRedisSentinel,
  startRedisServer,
  startSmtpSink,
  waitFor,
} from '@hikyaku/testing';
import { Redis } from 'ioredis';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

const MASTER_NAME = 'hikyaku';
/** The limited site: its own receiver, this many a minute per IP. */
const LIMITED_HOST = '127.0.0.32';
const PER_IP = 20;
const LIMITED_MESSAGES = 60;
/** As in test/e2e/replicas.test.ts: room for the dispatch-to-arrival time to vary. */
const SLACK_MS = 10_000;

let dir: string;
let master: ChildServer;
let replica: ChildServer;
let sentinel: ChildServer;
let sentinelClient: Redis;
let relay: RelayFixture;
let limitedSink: SmtpSink;
const limitedArrivals: { rcpt: string; peer: string; at: number }[] = [];

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
  limitedSink = await startSmtpSink({
    host: LIMITED_HOST,
    port: 0,
    keep: false,
    onMessage: (m) => {
      for (const rcpt of m.rcpts) {
        limitedArrivals.push({ rcpt, peer: m.peerAddress, at: Date.now() });
      }
    },
  });
  const url = `redis-sentinel://127.0.0.1:${sentinel.port}/${MASTER_NAME}`;
  relay = await startRelayFixture({
    redisUrl: url,
    extraRoutes: [{ domains: ['limit.test'], host: `${LIMITED_HOST}:${limitedSink.port}` }],
    spec: {
      ratePolicies: [
        {
          name: 'limited',
          match: { domains: ['limit.test'] },
          perIp: { messagesPerMinute: PER_IP },
        },
        {
          name: 'default',
          perIp: { messagesPerMinute: 1_000_000, connections: 10, messagesPerConnection: 1000 },
        },
      ],
    },
    env: { HIKYAKU_STORE_TIMEOUT_MS: '5000', HIKYAKU_RATE_SLACK_MS: String(SLACK_MS) },
  });
});

after(async () => {
  await relay?.stop();
  await limitedSink?.close();
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

/** The most of `times` that any window of `windowMs` holds. */
function worstWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= windowMs) j++;
    worst = Math.max(worst, i - j + 1);
  }
  return worst;
}

/** At most how many bytes of the master's replication stream the replica has not acknowledged. */
async function replicationLag(): Promise<number> {
  const offset = async (server: ChildServer, field: string): Promise<number> => {
    const client = new Redis(server.url);
    try {
      return Number(new RegExp(`${field}:(\\d+)`).exec(await client.info('replication'))?.[1]);
    } finally {
      client.disconnect();
    }
  };
  // The replica first: the difference is then at least the lag at either moment.
  const acknowledged = await offset(replica, 'slave_repl_offset');
  return (await offset(master, 'master_repl_offset')) - acknowledged;
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
  timeout: 600_000,
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

  // The limited site's backlog drains at its rate over the failover: 3 minutes of mail for
  // 2 IPs, the master killed once a full minute's worth has arrived.
  const limited = relayClient(relay.stack, 2);
  const limitedAccepted: string[] = [];
  await Promise.all(
    Array.from({ length: LIMITED_MESSAGES }, async (_, i) => {
      const to = `limited-${i}@limit.test`;
      await limited.sendMail({
        envelope: { from: 'app@hikyaku.test', to: [to] },
        raw: rawMessage({ from: 'app@hikyaku.test', to, marker: `limited-${i}` }),
      });
      limitedAccepted.push(to);
    }),
  );
  limited.close();

  let stopping = false;
  const accepted: string[] = [];
  const refusals: string[] = [];
  const client = relayClient(relay.stack, 4);
  let killedAt = 0;
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
    await waitFor(
      'a minute of the limited site delivered',
      () => limitedArrivals.length >= PER_IP,
      {
        timeoutMs: 120_000,
      },
    );
    // Writes the replica had not acknowledged when the master died are the failover's
    // window (docs/scaling.md): what the replica lacks of the rate counts.
    t.diagnostic(`replication lag at the kill: at most ${await replicationLag()} bytes`);
    const before = master.port;
    killedAt = Date.now();
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

  await waitFor(
    () => `the limited site's ${LIMITED_MESSAGES} messages delivered (${limitedArrivals.length})`,
    () => {
      const arrived = new Set(limitedArrivals.map((a) => a.rcpt));
      return limitedAccepted.every((r) => arrived.has(r));
    },
    { timeoutMs: 300_000, intervalMs: 1000 },
  );
  const killedBefore = limitedArrivals.filter((a) => a.at < killedAt).length;
  const perIp: Record<string, { received: number; dispatched: number }> = {};
  for (const ip of ['127.0.0.2', '127.0.0.3']) {
    perIp[ip] = {
      // The receiver's own clock, any 60 s.
      received: worstWindow(
        limitedArrivals.filter((a) => a.peer === ip).map((a) => a.at),
        60_000,
      ),
      // What the scheduler promises: any minute plus the slack.
      dispatched: worstWindow(
        relay.events
          .filter((e) => e.type === 'scheduled' && e.ip === ip && e.rcpt.endsWith('@limit.test'))
          .map((e) => e.at),
        60_000 + SLACK_MS,
      ),
    };
  }
  t.diagnostic(
    `limited site, ${PER_IP} a minute per IP: ${killedBefore} arrived before the kill, ` +
      `busiest windows ${JSON.stringify(perIp)}`,
  );
  for (const [ip, worst] of Object.entries(perIp)) {
    assert.ok(worst.dispatched <= PER_IP, `${ip}: ${worst.dispatched} dispatched in a window`);
    assert.ok(worst.received <= PER_IP, `${ip}: ${worst.received} received in a minute`);
  }
  assert.ok(
    killedBefore < LIMITED_MESSAGES - PER_IP,
    'the limited site was still sending after the failover',
  );
  assert.equal(await suppressedReply(), 550, 'the suppression list holds on the new master');
  for (const service of ['ingress', 'scheduler'] as const) {
    const port = relay.stack.services[service].opsPort;
    await waitFor(`the ${service} reporting redis up`, async () =>
      /^redis: up$/m.test(await readyz(port)),
    );
  }
});
