import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildServer, freePort, startNatsServer } from '@hikyaku/testing';
import { KV_BUCKETS, KV_KEYS, STREAMS } from './contract/subjects.ts';
import { ConfigError, HikyakuError } from './errors.ts';
import { waitForJetStream } from './jetstream-ready.ts';
import { connectNats, DEFAULT_LAYOUT, ensureStreams, streamConfigs } from './nats.ts';
import {
  parseRelayWireVersion,
  RELAY_KV_STREAM,
  readRelayWireVersion,
  setRelayWireVersion,
  wireVersionToWrite,
} from './relay-wire-version.ts';

let dir: string;
const servers: ChildServer[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-wire-version-'));
});

after(async () => {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A nats-server of its own for one test, JetStream answering. */
async function freshServer(name: string) {
  const server = await startNatsServer({ port: await freePort(), dataDir: join(dir, name) });
  servers.push(server);
  const connect = async () => {
    const nats = await connectNats({ url: server.url, name: `${name}-test` });
    await waitForJetStream(nats.nc);
    return nats;
  };
  return { connect, nats: await connect() };
}

test('a relay this release sets up writes the newest wire version', async () => {
  const { nats } = await freshServer('fresh');
  try {
    // Nothing set it up yet: 1, which every release reads, and nothing to raise.
    assert.deepEqual(await readRelayWireVersion(nats.js), { version: 1, revision: 0 });
    await assert.rejects(setRelayWireVersion(nats.js, 2), (err: unknown) => {
      assert.ok(err instanceof HikyakuError);
      assert.equal(err.code, 'HIKYAKU_RELAY_NOT_SET_UP');
      return true;
    });
    await ensureStreams(nats.jsm);
    const stored = await readRelayWireVersion(nats.js);
    assert.equal(stored.version, 2);
    assert.ok(stored.revision > 0);
    // Set-up again (every pod's start) leaves the record as it is.
    await ensureStreams(nats.jsm);
    assert.deepEqual(await readRelayWireVersion(nats.js), stored);
  } finally {
    await nats.nc.close();
  }
});

test('a relay an earlier release set up stays at 1 until raised', async () => {
  const { nats } = await freshServer('earlier');
  try {
    // What an earlier release leaves: its streams, and no relay settings bucket.
    for (const config of streamConfigs(DEFAULT_LAYOUT)) {
      if (config.name === STREAMS.envelopes || config.name === STREAMS.bodies) {
        await nats.jsm.streams.add(config);
      }
    }
    await ensureStreams(nats.jsm);
    assert.equal((await readRelayWireVersion(nats.js)).version, 1);
    assert.equal(await wireVersionToWrite(undefined, nats.js), 1);
    // HIKYAKU_WIRE_VERSION, where set, wins over the relay's.
    assert.equal(await wireVersionToWrite(2, nats.js), 2);

    const raised = await setRelayWireVersion(nats.js, 2);
    assert.equal(raised.version, 2);
    assert.deepEqual(await readRelayWireVersion(nats.js), raised);
    await ensureStreams(nats.jsm);
    assert.equal(await wireVersionToWrite(undefined, nats.js), 2);
  } finally {
    await nats.nc.close();
  }
});

test('pods setting up a new relay at once all read the one version recorded', async () => {
  const { connect, nats } = await freshServer('race');
  const others = await Promise.all([connect(), connect(), connect()]);
  try {
    await Promise.all([nats, ...others].map((n) => ensureStreams(n.jsm)));
    const read = await Promise.all([nats, ...others].map((n) => readRelayWireVersion(n.js)));
    assert.ok(read.every((r) => r.version === 2 && r.revision === read[0]?.revision));
    // One record: the others' were refused, not written over it.
    const info = await nats.jsm.streams.info(RELAY_KV_STREAM);
    assert.equal(info.state.messages, 1);
    assert.equal(info.state.last_seq, 1);
  } finally {
    for (const n of [nats, ...others]) await n.nc.close();
  }
});

test('a stored version is read as the newest this code writes when later, and refused when not a version', () => {
  assert.equal(parseRelayWireVersion('1'), 1);
  assert.equal(parseRelayWireVersion('2'), 2);
  // A later release recorded a version this code does not write; its pods read this one's.
  assert.equal(parseRelayWireVersion('3'), 2);
  for (const bad of ['', 'two', '0', '1.5']) {
    assert.throws(
      () => parseRelayWireVersion(bad),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes(`${KV_BUCKETS.relay} ${KV_KEYS.wireVersion}`),
    );
  }
});
