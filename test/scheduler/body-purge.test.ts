/**
 * Bodies removed in purges (HIKYAKU_BODY_REMOVAL=purge), against a real nats-server and
 * redis-server: ended bodies go in one purge, a body still needed holds it back until it
 * has been needed for `keepMs`, then is copied out and read from there, and the end of its
 * mail removes the copy. Nothing still needed is ever purged: not a body whose envelope is
 * unread, not a body whose mail ends while it is being copied.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  BodyMissingError,
  type BodyRef,
  type BodyStore,
  connectNats,
  createBodyStore,
  createLogger,
  DEFAULT_LAYOUT,
  ensureStreams,
  type NatsHandles,
  STREAMS,
} from '@hikyaku/core';
import {
  type BodyEnds,
  type BodyPurgeCounters,
  createBodyEnds,
  startBodyPurger,
  withEndedBodies,
} from '@hikyaku/scheduler';
import { type ChildServer, freePort, startNatsServer, startRedisServer } from '@hikyaku/testing';
import { Redis } from 'ioredis';

const KEEP_MS = 60_000;
let dir: string;
let servers: ChildServer[] = [];
let nats: NatsHandles;
let redis: Redis;
let ends: BodyEnds;
let bodies: BodyStore;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-body-purge-'));
  const natsServer = await startNatsServer({ port: await freePort(), dataDir: join(dir, 'nats') });
  const redisServer = await startRedisServer({
    port: await freePort(),
    dataDir: join(dir, 'redis'),
  });
  servers = [natsServer, redisServer];
  nats = await connectNats({ url: natsServer.url, name: 'body-purge-test' });
  await ensureStreams(nats.jsm, DEFAULT_LAYOUT);
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  ends = createBodyEnds(redis);
  const store = await createBodyStore({
    js: nats.js,
    jsm: nats.jsm,
    nc: nats.nc,
    replicas: 1,
    maxAgeMs: DEFAULT_LAYOUT.bodyMaxAgeMs,
  });
  bodies = withEndedBodies(store, ends, nats.jsm);
});

after(async () => {
  await redis?.quit();
  await nats?.nc.close();
  for (const s of servers.reverse()) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

const log = createLogger({ level: 'silent', name: 'body-purge-test' });

/** What a purger counted, as its metrics would. */
function counting() {
  const counted = { walks: [] as string[], purged: 0, kept: 0 };
  const metrics: BodyPurgeCounters = {
    bodyPurges: { inc: ({ result }) => counted.walks.push(result) },
    bodiesPurged: { inc: (n) => (counted.purged += n) },
    bodiesKept: { inc: () => counted.kept++ },
  };
  return { counted, metrics };
}

function purger(
  options: { instance?: string; now?: () => number; metrics?: BodyPurgeCounters } = {},
) {
  return startBodyPurger({
    js: nats.js,
    jsm: nats.jsm,
    redis,
    ends,
    log,
    instance: options.instance ?? 'test-purger',
    intervalMs: 1000,
    keepMs: KEEP_MS,
    timer: false,
    ...(options.now ? { now: options.now } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
}

async function streamState(stream: string) {
  return (await nats.jsm.streams.info(stream)).state;
}

interface Stored {
  id: string;
  data: Buffer;
  ref: BodyRef;
  seq: number;
}

/** Stores one body, as the ingress does. */
async function store(): Promise<Stored> {
  const id = randomUUID().replace(/-/g, '');
  const data = Buffer.from(`Subject: body ${id}\r\n\r\n${id}\r\n`);
  const ref = await bodies.put(id, data);
  assert.ok(ref.seq !== undefined);
  return { id, data, ref, seq: ref.seq };
}

async function storeAll(n: number): Promise<Stored[]> {
  const stored: Stored[] = [];
  for (let i = 0; i < n; i++) stored.push(await store());
  return stored;
}

/** Its mail ended, as the scheduler records it. */
const end = (b: Stored) => bodies.remove(b.id, b.ref);
const read = async (b: Stored) => Buffer.from(await bodies.get(b.id, b.ref));

async function purgeAll() {
  await nats.jsm.streams.purge(STREAMS.bodies);
  await nats.jsm.streams.purge(STREAMS.bodiesKept);
  await redis.flushall();
}

test('ended bodies go in one purge; the first body still needed holds it, and is read as before', async () => {
  await purgeAll();
  const [b1, b2, b3, b4, b5] = (await storeAll(5)) as [Stored, Stored, Stored, Stored, Stored];
  for (const b of [b1, b2, b4]) await end(b);
  // Nothing was removed one by one.
  assert.equal((await streamState(STREAMS.bodies)).messages, 5);

  assert.equal(await purger().runOnce(), b3.seq);
  const state = await streamState(STREAMS.bodies);
  assert.equal(state.first_seq, b3.seq);
  assert.equal(state.messages, 3);
  await assert.rejects(read(b1), BodyMissingError);
  assert.deepEqual(await read(b3), b3.data);
  assert.deepEqual(await read(b5), b5.data);
  // The ended sequences below the purge are forgotten; the one above it is kept.
  assert.deepEqual(await ends.endedFrom(0, 10), [b4.seq]);
});

test('a body needed longer than keepMs is copied out, read from there, and removed when its mail ends', async () => {
  await purgeAll();
  const [b1, b2, b3] = (await storeAll(3)) as [Stored, Stored, Stored];
  await end(b2);

  // Still young: the first body holds the purge.
  const { counted, metrics } = counting();
  assert.equal(await purger({ metrics }).runOnce(), undefined);
  assert.equal((await streamState(STREAMS.bodies)).messages, 3);
  assert.deepEqual(counted, { walks: ['nothing'], purged: 0, kept: 0 });

  const later = () => Date.now() + KEEP_MS + 1000;
  assert.equal(await purger({ now: later, metrics }).runOnce(), b3.seq + 1);
  assert.deepEqual(counted, { walks: ['nothing', 'purged'], purged: 3, kept: 2 });
  assert.equal((await streamState(STREAMS.bodies)).messages, 0);
  assert.equal((await streamState(STREAMS.bodiesKept)).messages, 2, 'b1 and b3 copied out');
  assert.deepEqual(await read(b1), b1.data);
  assert.deepEqual(await read(b3), b3.data);
  await assert.rejects(read(b2), BodyMissingError);

  // The mail ends with the body's first ref: the copy goes with it.
  await end(b1);
  assert.equal((await streamState(STREAMS.bodiesKept)).messages, 1);
  await assert.rejects(read(b1), BodyMissingError);
  assert.deepEqual(await read(b3), b3.data);
});

test('a body whose envelope is unread holds the purge, however old', async () => {
  await purgeAll();
  const b1 = await store();
  const id = randomUUID().replace(/-/g, '');
  const ref = await bodies.putWithEnvelope(
    {
      v: 1,
      id,
      pool: 'test_pool',
      receivedAt: Date.now(),
      from: 'a@sender.test',
      rcpts: ['b@x.test'],
    },
    Buffer.from('Subject: with its envelope\r\n\r\nhi\r\n'),
  );
  assert.ok(ref?.seq);
  await end(b1);
  // No scheduler consumer has read any envelope in a body: the purge stops at it.
  const far = () => Date.now() + 100 * KEEP_MS;
  assert.equal(await purger({ now: far }).runOnce(), ref.seq);
  assert.equal((await streamState(STREAMS.bodies)).messages, 1);
  assert.equal((await streamState(STREAMS.bodiesKept)).messages, 0);
});

test('a gap left by a removal one by one is passed, as a scheduler of the release before leaves it', async () => {
  await purgeAll();
  const [b1, b2, b3] = (await storeAll(3)) as [Stored, Stored, Stored];
  await nats.jsm.streams.deleteMessage(STREAMS.bodies, b1.seq, false);
  await end(b2);
  assert.equal(await purger().runOnce(), b3.seq);
  assert.equal((await streamState(STREAMS.bodies)).messages, 1);
});

test('mail that ends while its body is copied out leaves no copy behind', async () => {
  await purgeAll();
  const b1 = await store();
  assert.equal(await ends.needed(b1.id, b1.seq), true);
  // The end lands between the purger's look and its record of the copy.
  assert.equal(await ends.end(b1.id, b1.seq), 0);
  assert.equal(await ends.kept(b1.id, b1.seq, 99), false, 'the copy is not recorded');
  assert.equal(await ends.needed(b1.id, b1.seq), false);

  // The other order: the copy recorded first, then the end hands it back for removal.
  const b2 = await store();
  assert.equal(await ends.kept(b2.id, b2.seq, 7), true);
  assert.equal(await ends.needed(b2.id, b2.seq), false, 'a copied body is not needed in place');
  assert.equal(await ends.end(b2.id, b2.seq), 7);
  assert.equal(await ends.end(b2.id, b2.seq), 0, 'ended twice, removed once');
});

test('of two schedulers, one purges at a time', async () => {
  await purgeAll();
  const [b1, b2] = (await storeAll(2)) as [Stored, Stored];
  await end(b1);
  const first = purger({ instance: 'scheduler-a' });
  const second = purger({ instance: 'scheduler-b' });
  assert.equal(await second.runOnce(), b2.seq);
  // scheduler-b holds the lease: scheduler-a purges nothing, though there is something to.
  await end(b2);
  assert.equal(await first.runOnce(), undefined);
  assert.equal((await streamState(STREAMS.bodies)).messages, 1);
  assert.equal(await second.runOnce(), b2.seq + 1);
  assert.equal((await streamState(STREAMS.bodies)).messages, 0);
  await first.stop();
  await second.stop();
});
