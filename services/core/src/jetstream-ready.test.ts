import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildServer, freePort, startNatsServer } from '@hikyaku/testing';
import { pino } from 'pino';
import { STREAMS } from './contract/subjects.ts';
import { HikyakuError } from './errors.ts';
import { waitForJetStream } from './jetstream-ready.ts';
import { connectNats, DEFAULT_LAYOUT, ensureStreams } from './nats.ts';
import { RELAY_KV_STREAM } from './relay-wire-version.ts';

let dir: string;
const servers: ChildServer[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-js-ready-'));
});

after(async () => {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function capturingLogger() {
  const lines: { msg: string; reason?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

/**
 * Three nats-servers configured as one cluster, none started: `start(i)` starts node i
 * (kept for the cleanup), so a test can bring the cluster up one server at a time.
 */
async function unstartedCluster(name: string, nodeNames: [string, string, string]) {
  const host = '127.0.0.1';
  const nodes = await Promise.all(
    nodeNames.map(async (node) => ({
      name: node,
      client: await freePort(host),
      cluster: await freePort(host),
    })),
  );
  const routes = nodes.map((n) => `nats://${host}:${n.cluster}`);
  return {
    async start(i: 0 | 1 | 2): Promise<ChildServer> {
      const n = nodes[i] as (typeof nodes)[number];
      const server = await startNatsServer({
        port: n.client,
        host,
        dataDir: join(dir, n.name),
        cluster: { name, serverName: n.name, port: n.cluster, routes },
      });
      servers.push(server);
      return server;
    },
  };
}

/** A single nats-server of its own (kept for the cleanup), connected, JetStream answering. */
async function singleServer(name: string) {
  const server = await startNatsServer({ port: await freePort(), dataDir: join(dir, name) });
  servers.push(server);
  const nats = await connectNats({ url: server.url, name: `${name}-test` });
  await waitForJetStream(nats.nc);
  return nats;
}

test('more replicas than a single server can hold is a stream set-up error naming the stream', async () => {
  const nats = await singleServer('single');
  try {
    await assert.rejects(
      ensureStreams(nats.jsm, { ...DEFAULT_LAYOUT, replicas: 3 }),
      (err: unknown) => {
        assert.ok(err instanceof HikyakuError);
        assert.equal(err.code, 'HIKYAKU_STREAM_SETUP');
        assert.match(
          err.message,
          new RegExp(`^stream ${RELAY_KV_STREAM}: .*; asked for 3 replicas$`),
        );
        return true;
      },
    );
  } finally {
    await nats.nc.close();
  }
});

test('set-up logs each stream it creates or updates, and leaves unchanged ones alone', async () => {
  const nats = await singleServer('steps');
  try {
    const steps = async (layout: typeof DEFAULT_LAYOUT) => {
      const { log, lines } = capturingLogger();
      await ensureStreams(nats.jsm, layout, { log });
      return lines.map((l) => l.msg);
    };
    const created = await steps(DEFAULT_LAYOUT);
    // The relay's wire version first (relay-wire-version.ts), then every stream.
    assert.deepEqual(created, [
      'relay wire version recorded',
      ...Object.keys(STREAMS).map(() => 'stream created'),
    ]);
    assert.deepEqual(await steps(DEFAULT_LAYOUT), []);
    // The events and trace streams keep events for eventMaxAgeMs; nothing else changes.
    assert.deepEqual(await steps({ ...DEFAULT_LAYOUT, eventMaxAgeMs: 3600_000 }), [
      'stream updated',
      'stream updated',
    ]);
  } finally {
    await nats.nc.close();
  }
});

test("set-up keeps the limits an admin put on the events stream (scaling.md's cap on its memory)", async () => {
  const nats = await singleServer('capped');
  try {
    await ensureStreams(nats.jsm);
    // `nats stream edit HIKYAKU_EVENTS --max-msgs 3 --max-bytes 1MB`
    await nats.jsm.streams.update(STREAMS.events, { max_msgs: 3, max_bytes: 1 << 20 });
    const limits = async () => {
      const { config } = await nats.jsm.streams.info(STREAMS.events);
      return { msgs: config.max_msgs, bytes: config.max_bytes, age: config.max_age };
    };
    // A service starting again: nothing it sets differs, so it sends nothing.
    await ensureStreams(nats.jsm);
    assert.deepEqual(await limits(), {
      msgs: 3,
      bytes: 1 << 20,
      age: DEFAULT_LAYOUT.eventMaxAgeMs * 1_000_000,
    });
    // A release that changes what it sets updates only that.
    await ensureStreams(nats.jsm, { ...DEFAULT_LAYOUT, eventMaxAgeMs: 3600_000 });
    assert.deepEqual(await limits(), { msgs: 3, bytes: 1 << 20, age: 3600_000 * 1_000_000 });
    // The cap holds: the oldest events go first.
    for (let i = 0; i < 5; i++) {
      await nats.js.publish(`hikyaku.event.p.q${i}.r.m.delivered`, new Uint8Array(10));
    }
    const { state } = await nats.jsm.streams.info(STREAMS.events);
    assert.equal(state.messages, 3);
    assert.equal(state.first_seq, 3);
  } finally {
    await nats.nc.close();
  }
});

test('set-up waits, saying so, while a cluster has no metadata leader, and goes on once it has', async () => {
  const cluster = await unstartedCluster('ready', ['a', 'b', 'c']);
  // One server of three: no quorum, so no metadata leader and no JetStream answers.
  const first = await cluster.start(0);
  const nats = await connectNats({ url: first.url, name: 'ready-test' });
  try {
    const alone = capturingLogger();
    await assert.rejects(
      waitForJetStream(nats.nc, { log: alone.log, timeoutMs: 3000, probeTimeoutMs: 500 }),
      (err: unknown) => err instanceof HikyakuError && err.code === 'HIKYAKU_JETSTREAM_UNAVAILABLE',
    );
    assert.ok(
      alone.lines.some((l) => /jetstream not answering yet/.test(l.msg)),
      'each unanswered attempt is logged',
    );

    const waiting = capturingLogger();
    const ready = waitForJetStream(nats.nc, { log: waiting.log, probeTimeoutMs: 500 });
    await cluster.start(1);
    await ready;
    assert.ok(waiting.lines.some((l) => l.msg === 'jetstream answering'));
    await ensureStreams(nats.jsm, { ...DEFAULT_LAYOUT, replicas: 2 });
    const info = await nats.jsm.streams.info(STREAMS.envelopes);
    assert.equal(info.config.num_replicas, 2);
  } finally {
    await nats.nc.close();
  }
});

test('set-up waits for servers to place the replicas on, and names the shortfall at its deadline', async () => {
  const cluster = await unstartedCluster('placement', ['p', 'q', 'r']);
  // Two servers of three: a metadata leader, but only two servers to place replicas on.
  const first = await cluster.start(0);
  await cluster.start(1);
  const nats = await connectNats({ url: first.url, name: 'placement-test' });
  try {
    await waitForJetStream(nats.nc);
    const layout = { ...DEFAULT_LAYOUT, replicas: 3 };
    await assert.rejects(ensureStreams(nats.jsm, layout, { timeoutMs: 3000 }), (err: unknown) => {
      assert.ok(err instanceof HikyakuError);
      assert.equal(err.code, 'HIKYAKU_STREAM_SETUP');
      assert.match(
        err.message,
        new RegExp(
          `^stream ${RELAY_KV_STREAM}: JetStream could not place 3 replicas within 3000 ms`,
        ),
      );
      assert.match(err.message, /\(JetStream error 10005\)$/);
      return true;
    });

    // The third server joins while set-up waits: set-up goes on and places every stream.
    const waiting = capturingLogger();
    const setUp = ensureStreams(nats.jsm, layout, { log: waiting.log });
    const deadline = Date.now() + 30_000;
    while (!waiting.lines.some((l) => /waits for more JetStream servers/.test(l.msg))) {
      assert.ok(Date.now() < deadline, 'set-up logs that it waits for servers');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await cluster.start(2);
    await setUp;
    for (const stream of Object.values(STREAMS)) {
      const info = await nats.jsm.streams.info(stream);
      assert.equal(info.config.num_replicas, 3, stream);
    }
    assert.equal(
      waiting.lines.filter((l) => l.msg === 'stream created').length,
      Object.keys(STREAMS).length,
    );
  } finally {
    await nats.nc.close();
  }
});
