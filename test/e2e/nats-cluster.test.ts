/**
 * The relay on a 3-node NATS JetStream cluster, streams and buckets at three replicas:
 * under a steady load, the node leading the envelopes stream is killed (SIGKILL) and later
 * brought back, then every node is restarted in turn, each once the one before has caught
 * up (a rolling upgrade). The services reconnect to the surviving nodes by themselves; the
 * ingress answers nothing but 250 or 451; every message answered 250 is delivered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectNats, type NatsHandles, STREAMS, waitForJetStream } from '@hikyaku/core';
import { type NatsCluster, sleep, startNatsCluster, waitFor } from '@hikyaku/testing';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

/**
 * This file runs only when asked (HIKYAKU_TEST_NATS_CLUSTER=1; the rolling restart also
 * needs HIKYAKU_TEST_NATS_ROLLING=1). With nats-server 2.9.10 it is not reliable enough
 * for every run: in 34 runs 3 lost messages in the rolling restart (a restarted server
 * logs `Resetting stream cluster state` / `Expected first catchup entry to be a snapshot`
 * for the jobs stream, which afterwards holds jobs its consumer no longer reports as
 * pending, so they are never sent), and a later run failed at its very start. Newer
 * nats-server releases changed stream catch-up; docs/scaling.md has the figures.
 */
const SKIP =
  process.env.HIKYAKU_TEST_NATS_CLUSTER === '1'
    ? false
    : 'not reliable on nats-server 2.9.10 (see the comment above); set HIKYAKU_TEST_NATS_CLUSTER=1 to run it';
const ROLLING_RESTART_SKIP =
  process.env.HIKYAKU_TEST_NATS_ROLLING === '1'
    ? false
    : 'nats-server 2.9.10 loses replicated work-queue messages in about one rolling restart in ten (set HIKYAKU_TEST_NATS_ROLLING=1 to run it)';

let dir: string;
let cluster: NatsCluster;
let admin: NatsHandles;
let relay: RelayFixture;

before(async () => {
  if (SKIP) return;
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-cluster-'));
  cluster = await startNatsCluster({ size: 3, dataDir: dir });
  admin = await connectNats({ url: cluster.url, name: 'cluster-test' });
  // JetStream answers once the cluster has elected its metadata leader.
  await waitForJetStream(admin.nc);
  relay = await startRelayFixture({
    natsUrl: cluster.url,
    streamReplicas: 3,
    env: { HIKYAKU_STORE_TIMEOUT_MS: '5000' },
  });
});

after(async () => {
  await relay?.stop();
  await admin?.nc.close().catch(() => undefined);
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function markersDelivered(): Set<string> {
  const found = new Set<string>();
  for (const m of relay.sink.messages) {
    const marker = /^Subject: test (\S+)/m.exec(m.raw.toString('latin1'))?.[1];
    if (marker) found.add(marker);
  }
  return found;
}

/** Clients sending one message after another until stopped; what was answered, by marker. */
function steadyLoad(prefix: string, sessions: number) {
  let stopping = false;
  const accepted: string[] = [];
  const refusals: string[] = [];
  const client = relayClient(relay.stack, sessions);
  const workers = Array.from({ length: sessions }, async (_, w) => {
    for (let i = 0; !stopping; i++) {
      const marker = `${prefix}-${w}-${i}`;
      const to = `${marker}@example.test`;
      try {
        await client.sendMail({
          envelope: { from: 'app@hikyaku.test', to: [to] },
          raw: rawMessage({ from: 'app@hikyaku.test', to, marker, bodyBytes: 1024 }),
        });
        accepted.push(marker);
        await sleep(50);
      } catch (err) {
        const e = err as Error & { responseCode?: number; response?: string };
        refusals.push(e.response ?? `${e.responseCode ?? ''} ${e.message}`);
        await sleep(250);
      }
    }
  });
  return {
    accepted,
    refusals,
    async stop() {
      stopping = true;
      await Promise.all(workers);
      client.close();
    },
  };
}

/**
 * The cluster has healed: every node reports itself healthy (its replicas caught up, as the
 * NATS chart's probe asks before a rolling restart moves on), and every stream and durable
 * consumer is led with both other replicas current.
 */
async function healed(): Promise<boolean> {
  for (const node of cluster.nodes) if (!(await node.healthy())) return false;
  const groups = [];
  for (const name of Object.values(STREAMS)) {
    groups.push((await admin.jsm.streams.info(name)).cluster);
    for await (const consumer of admin.jsm.consumers.list(name)) groups.push(consumer.cluster);
  }
  return groups.every(
    (group) =>
      group?.leader !== undefined &&
      group.replicas?.length === 2 &&
      group.replicas.every((r) => r.current && !r.offline),
  );
}

async function moreAccepted(load: { accepted: string[] }, n: number, what: string) {
  const target = load.accepted.length + n;
  await waitFor(what, () => load.accepted.length >= target, { timeoutMs: 60_000 });
}

test('stream leader killed and, when asked, a rolling restart: nothing answered 250 is lost', {
  skip: SKIP,
  timeout: 600_000,
}, async (t) => {
  for (const name of Object.values(STREAMS)) {
    const info = await admin.jsm.streams.info(name);
    assert.equal(info.config.num_replicas, 3, `${name} has three replicas`);
  }
  const load = steadyLoad('cluster', 4);
  try {
    await moreAccepted(load, 40, 'mail flowing');

    await t.test("the envelopes stream's leader is killed and comes back", async () => {
      const leaderName = (await admin.jsm.streams.info(STREAMS.envelopes)).cluster?.leader;
      const leader = cluster.nodes.find((n) => n.name === leaderName);
      assert.ok(leader, `the envelopes stream's leader (${leaderName}) is one of the nodes`);
      await leader.kill();
      await moreAccepted(load, 40, 'mail accepted with the leader gone');
      assert.notEqual(
        (await admin.jsm.streams.info(STREAMS.envelopes)).cluster?.leader,
        leaderName,
        'another node leads the envelopes stream',
      );
      await leader.restart();
      await waitFor('the cluster healed', healed, { timeoutMs: 120_000, intervalMs: 1000 });
    });
    await t.test('every node is restarted in turn', { skip: ROLLING_RESTART_SKIP }, async () => {
      for (const node of cluster.nodes) {
        await node.restart();
        await moreAccepted(load, 20, `mail accepted after restarting ${node.name}`);
        await waitFor('the cluster healed', healed, { timeoutMs: 120_000, intervalMs: 1000 });
      }
    });
    await moreAccepted(load, 20, 'mail accepted after the restarts');
  } finally {
    await load.stop();
  }

  await waitFor(
    () => `all ${load.accepted.length} accepted messages delivered`,
    () => {
      const delivered = markersDelivered();
      return load.accepted.every((m) => delivered.has(m));
    },
    { timeoutMs: 240_000, intervalMs: 1000 },
  ).catch(() => undefined); // the assertion below names what is missing
  const delivered = markersDelivered();
  assert.deepEqual(
    load.accepted.filter((m) => !delivered.has(m)),
    [],
  );
  for (const refusal of load.refusals) assert.match(refusal, /^451 4\.3\.0 /);
  const copies = new Map<string, number>();
  for (const m of relay.sink.messages) {
    const marker = /^Subject: test (\S+)/m.exec(m.raw.toString('latin1'))?.[1];
    if (marker) copies.set(marker, (copies.get(marker) ?? 0) + 1);
  }
  // The figures docs/scaling.md quotes.
  t.diagnostic(
    `accepted ${load.accepted.length}, answered 451: ${load.refusals.length}, ` +
      `delivered more than once: ${[...copies.values()].filter((n) => n > 1).length}`,
  );
});
