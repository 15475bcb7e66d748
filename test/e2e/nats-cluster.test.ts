/**
 * The relay on a 3-node NATS JetStream cluster, streams and buckets at three replicas:
 * under a steady load, the node leading the envelopes stream is killed (SIGKILL) and later
 * brought back; two of the three nodes are killed (no quorum) and brought back; then, when
 * asked, every node is restarted in turn, each once the one before has caught up (a
 * rolling upgrade).
 * The services reconnect to the surviving nodes by themselves; the ingress answers nothing
 * but 250 or 451 (451 while no quorum exists); every message answered 250 is delivered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectNats, type NatsHandles, STREAMS, waitForJetStream } from '@hikyaku/core';
import { type NatsCluster, sleep, startNatsCluster, waitFor } from '@hikyaku/testing';
import type { ClusterInfo } from '@nats-io/jetstream';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

/**
 * This file runs only when asked (HIKYAKU_TEST_NATS_CLUSTER=1; the rolling restart also
 * needs HIKYAKU_TEST_NATS_ROLLING=1). On nats-server 2.9.10, even with the consumer
 * watchdog, it is not reliable enough for every run: in 28 runs with the rolling restart,
 * one lost mail answered 250 in it and one did not heal within 2 minutes; in 4 runs
 * without it, one lost mail after a leader kill and two servers down, its streams empty
 * at the end (docs/scaling.md has the figures).
 */
const SKIP =
  process.env.HIKYAKU_TEST_NATS_CLUSTER === '1'
    ? false
    : 'not reliable on nats-server 2.9.10 (see the comment above); set HIKYAKU_TEST_NATS_CLUSTER=1 to run it';
const ROLLING_RESTART_SKIP =
  process.env.HIKYAKU_TEST_NATS_ROLLING === '1'
    ? false
    : 'nats-server 2.9.10 loses replicated work-queue messages in some rolling restarts (set HIKYAKU_TEST_NATS_ROLLING=1 to run it)';

let dir: string | undefined;
let cluster: NatsCluster | undefined;
let admin: NatsHandles | undefined;
let relay: RelayFixture | undefined;
/** The last lines of each node, shown when set-up fails (why the cluster did not answer). */
const nodeLog = new Map<string, string[]>();
/** What the services logged about consumers they recreated (consumer-watchdog.ts). */
const recreations: string[] = [];
let jetStreamAfterMs = 0;

before(async () => {
  if (SKIP) return;
  try {
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-cluster-'));
    const startedAt = Date.now();
    cluster = await startNatsCluster({
      size: 3,
      dataDir: dir,
      // An address of its own: ports picked free on it cannot be taken meanwhile by the
      // servers of other tests, which listen on 127.0.0.1.
      host: '127.0.0.21',
      log: (node, line) => {
        const lines = nodeLog.get(node) ?? [];
        lines.push(line);
        if (lines.length > 60) lines.shift();
        nodeLog.set(node, lines);
      },
    });
    admin = await connectNats({ url: cluster.url, name: 'cluster-test' });
    // JetStream answers once the cluster has elected its metadata leader.
    await waitForJetStream(admin.nc);
    jetStreamAfterMs = Date.now() - startedAt;
    relay = await startRelayFixture({
      natsUrl: cluster.url,
      streamReplicas: 3,
      env: { HIKYAKU_STORE_TIMEOUT_MS: '5000', HIKYAKU_CONSUMER_WATCHDOG_MS: '5000' },
      onOutput: (name, line) => {
        if (line.includes('HIKYAKU_CONSUMER_')) recreations.push(`${name} ${line}`);
      },
    });
  } catch (err) {
    printNodeLogs();
    throw err;
  }
});

function printNodeLogs(): void {
  for (const [node, lines] of nodeLog) {
    process.stderr.write(`--- ${node}, last lines\n${lines.join('\n')}\n`);
  }
}

// Whatever failed in set-up, everything started is stopped, so the file always ends.
after(async () => {
  const steps = [
    () => relay?.stop(),
    () => admin?.nc.close(),
    () => cluster?.stop(),
    () => dir && rmSync(dir, { recursive: true, force: true }),
  ];
  for (const step of steps) await (async () => step())().catch(() => undefined);
});

function fixture(): { relay: RelayFixture; admin: NatsHandles; cluster: NatsCluster } {
  assert.ok(relay && admin && cluster, 'set up');
  return { relay, admin, cluster };
}

function copiesDelivered(): Map<string, number> {
  const copies = new Map<string, number>();
  for (const m of fixture().relay.sink.messages) {
    const marker = /^Subject: test (\S+)/m.exec(m.raw.toString('latin1'))?.[1];
    if (marker) copies.set(marker, (copies.get(marker) ?? 0) + 1);
  }
  return copies;
}

/** Clients sending one message after another until stopped; what was answered, by marker. */
function steadyLoad(prefix: string, sessions: number) {
  let stopping = false;
  const accepted: string[] = [];
  /** When each attempt began and was answered, answered 250 or refused. */
  const answered: { started: number; at: number; reply: string }[] = [];
  const refusals: { started: number; at: number; reply: string }[] = [];
  const client = relayClient(fixture().relay.stack, sessions);
  const workers = Array.from({ length: sessions }, async (_, w) => {
    for (let i = 0; !stopping; i++) {
      const marker = `${prefix}-${w}-${i}`;
      const to = `${marker}@example.test`;
      const started = Date.now();
      try {
        await client.sendMail({
          envelope: { from: 'app@hikyaku.test', to: [to] },
          raw: rawMessage({ from: 'app@hikyaku.test', to, marker, bodyBytes: 1024 }),
        });
        accepted.push(marker);
        answered.push({ started, at: Date.now(), reply: '250' });
        await sleep(50);
      } catch (err) {
        const e = err as Error & { responseCode?: number; response?: string };
        const refusal = {
          started,
          at: Date.now(),
          reply: e.response ?? `${e.responseCode ?? ''} ${e.message}`,
        };
        refusals.push(refusal);
        answered.push(refusal);
        await sleep(250);
      }
    }
  });
  return {
    accepted,
    answered,
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
/** What kept the cluster from being healed at the last look, for the failure message. */
let unhealed = '';

async function healed(): Promise<boolean> {
  const { cluster, admin } = fixture();
  for (const node of cluster.nodes) {
    if (!(await node.healthy())) {
      unhealed = `${node.name} not healthy`;
      return false;
    }
  }
  const groups: { what: string; group: ClusterInfo | undefined }[] = [];
  for (const name of Object.values(STREAMS)) {
    groups.push({ what: name, group: (await admin.jsm.streams.info(name)).cluster });
    for await (const consumer of admin.jsm.consumers.list(name)) {
      groups.push({ what: `${name}/${consumer.name}`, group: consumer.cluster });
    }
  }
  const behind = groups.find(
    ({ group }) =>
      group?.leader === undefined ||
      group.replicas?.length !== 2 ||
      !group.replicas.every((r) => r.current && !r.offline),
  );
  unhealed = behind ? `${behind.what}: ${JSON.stringify(behind.group)}` : '';
  return !behind;
}

const untilHealed = () =>
  waitFor(() => `the cluster healed (${unhealed})`, healed, {
    timeoutMs: 120_000,
    intervalMs: 500,
  }).catch((err: unknown) => {
    printNodeLogs();
    throw err;
  });

async function moreAccepted(load: { accepted: string[] }, n: number, what: string) {
  const target = load.accepted.length + n;
  await waitFor(what, () => load.accepted.length >= target, { timeoutMs: 60_000 });
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

test('stream leader killed, two of three servers down, a rolling restart when asked: nothing answered 250 is lost', {
  skip: SKIP,
  timeout: 600_000,
}, async (t) => {
  const { admin, cluster } = fixture();
  for (const name of Object.values(STREAMS)) {
    const info = await admin.jsm.streams.info(name);
    assert.equal(info.config.num_replicas, 3, `${name} has three replicas`);
  }
  const started = Date.now();
  const figures: string[] = [];
  const load = steadyLoad('cluster', 4);
  try {
    await moreAccepted(load, 20, 'mail flowing');

    await t.test("the envelopes stream's leader is killed and comes back", async () => {
      const leaderName = (await admin.jsm.streams.info(STREAMS.envelopes)).cluster?.leader;
      const leader = cluster.nodes.find((n) => n.name === leaderName);
      assert.ok(leader, `the envelopes stream's leader (${leaderName}) is one of the nodes`);
      await leader.kill();
      await moreAccepted(load, 20, 'mail accepted with the leader gone');
      assert.notEqual(
        (await admin.jsm.streams.info(STREAMS.envelopes)).cluster?.leader,
        leaderName,
        'another node leads the envelopes stream',
      );
      await leader.restart();
      const back = Date.now();
      await untilHealed();
      figures.push(`leader kill: healed ${seconds(Date.now() - back)} after its restart`);
    });

    await t.test(
      'two of three servers down: 451 until they are back, then mail flows',
      async () => {
        const down = cluster.nodes.slice(0, 2);
        await Promise.all(down.map((node) => node.kill()));
        const killedAt = Date.now();
        const begunSinceKill = () => load.answered.filter((a) => a.started >= killedAt);
        // No quorum: no write can be durable, so every message begun now must be refused.
        await waitFor(
          'twenty messages begun without quorum answered',
          () => begunSinceKill().length >= 20,
          { timeoutMs: 90_000 },
        );
        const outage = begunSinceKill();
        assert.deepEqual(
          outage.filter((a) => !a.reply.startsWith('451 ')),
          [],
          'nothing answered but 451 without quorum',
        );
        await Promise.all(down.map((node) => node.restart()));
        const restartedAt = Date.now();
        await moreAccepted(load, 20, 'mail accepted once the servers are back');
        const firstAccepted =
          load.answered.find((a) => a.started >= restartedAt && a.reply === '250')?.at ??
          Date.now();
        await untilHealed();
        const refused = load.answered.filter(
          (a) => a.started >= killedAt && a.started < restartedAt && a.reply !== '250',
        ).length;
        figures.push(
          `two down for ${seconds(restartedAt - killedAt)}: ${refused} messages begun meanwhile answered 451 ` +
            `(each after ${seconds(Math.min(...outage.map((a) => a.at - a.started)))}` +
            ` to ${seconds(Math.max(...outage.map((a) => a.at - a.started)))}); first 250 ` +
            `${seconds(firstAccepted - restartedAt)} after the restart, healed ` +
            `${seconds(Date.now() - restartedAt)} after it`,
        );
      },
    );

    await t.test('every node is restarted in turn', { skip: ROLLING_RESTART_SKIP }, async () => {
      const began = Date.now();
      for (const node of cluster.nodes) {
        await node.restart();
        await moreAccepted(load, 10, `mail accepted after restarting ${node.name}`);
        await untilHealed();
      }
      figures.push(`rolling restart: ${seconds(Date.now() - began)}`);
    });
    await moreAccepted(load, 10, 'mail accepted after the restarts');
  } finally {
    await load.stop();
  }

  const stoppedAt = Date.now();
  await waitFor(
    () => `all ${load.accepted.length} accepted messages delivered`,
    () => {
      const delivered = copiesDelivered();
      return load.accepted.every((m) => delivered.has(m));
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  ).catch(() => undefined); // the assertion below names what is missing
  const delivered = copiesDelivered();
  const missing = load.accepted.filter((m) => !delivered.has(m));
  // The figures docs/scaling.md quotes.
  t.diagnostic(
    `accepted ${load.accepted.length}, answered 451: ${load.refusals.length}, ` +
      `delivered more than once: ${[...delivered.values()].filter((n) => n > 1).length}, ` +
      `all delivered ${seconds(Date.now() - stoppedAt)} after the load stopped, ` +
      `load ${seconds(stoppedAt - started)}; consumers recreated: ` +
      `${recreations.filter((l) => l.includes('HIKYAKU_CONSUMER_RECREATED')).length}`,
  );
  t.diagnostic(`JetStream answered ${seconds(jetStreamAfterMs)} after the cluster's start`);
  for (const line of figures) t.diagnostic(line);
  for (const line of recreations) t.diagnostic(line);
  if (missing.length > 0) {
    // Where the missing mail waits: what each work-queue stream holds and its consumers owe.
    for (const line of await queueState()) t.diagnostic(line);
    printNodeLogs();
  }
  assert.deepEqual(missing, [], 'every message answered 250 is delivered');
  for (const refusal of load.refusals) assert.match(refusal.reply, /^451 4\.3\.0 /);
});

async function queueState(): Promise<string[]> {
  const { admin } = fixture();
  const lines: string[] = [];
  for (const name of Object.values(STREAMS)) {
    const info = await admin.jsm.streams.info(name, { subjects_filter: '>' });
    if (info.config.retention !== 'workqueue') continue;
    lines.push(
      `${name}: ${info.state.messages} messages, seq ${info.state.first_seq}..${info.state.last_seq}, ` +
        `subjects ${JSON.stringify(info.state.subjects ?? {})}, leader ${info.cluster?.leader}`,
    );
    for await (const c of admin.jsm.consumers.list(name)) {
      lines.push(
        `  ${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, ` +
          `delivered ${c.delivered.stream_seq}, ack floor ${c.ack_floor.stream_seq}, ` +
          `filter ${c.config.filter_subject ?? '-'}, created ${c.created}, leader ${c.cluster?.leader}`,
      );
    }
  }
  return lines;
}
