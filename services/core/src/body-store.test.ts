import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import { bodyEnvelopesWaiting } from './body-envelopes-waiting.ts';
import { type BodyStore, createBodyStore, ENVELOPE_HEADER_LIMIT } from './body-store.ts';
import { ENVELOPE_HEADER, envelopeHeader } from './contract/messages.ts';
import { CONSUMERS, STREAMS, SUBJECTS } from './contract/subjects.ts';
import { BodyMissingError } from './errors.ts';
import { connectNats, ensureConsumer, ensureStreams, type NatsHandles } from './nats.ts';

type JetStreamManager = NatsHandles['jsm'];

/** The envelope the one-write tests store with a body: one sender, one recipient. */
function envelopeFor(id: string) {
  return {
    v: 1 as const,
    id,
    pool: 'local_demo',
    receivedAt: 5,
    from: 'a@example.test',
    rcpts: ['b@example.test'],
  };
}

let infra: TestNats;
let nats: NatsHandles;
let bodies: BodyStore;

before(async () => {
  infra = await startTestNats('body-store-test');
  nats = infra.nats;
  bodies = await createBodyStore({ js: nats.js, jsm: nats.jsm, replicas: 1, maxAgeMs: 3_600_000 });
});

after(async () => {
  await infra?.close();
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

test('a body and its envelope are stored as one message; a headers-only consumer gets the envelope without the body', async () => {
  const body = Buffer.alloc(64 * 1024, 'x');
  const envelope = envelopeFor('one-write');
  const before = (await nats.jsm.streams.info(STREAMS.bodies)).state.last_seq;
  const ref = await bodies.putWithEnvelope(envelope, body);
  assert.ok(ref);
  assert.equal((await nats.jsm.streams.info(STREAMS.bodies)).state.last_seq, before + 1);
  assert.deepEqual(ref, { store: 'stream', size: body.byteLength, seq: before + 1 });
  assert.deepEqual(Buffer.from(await bodies.get(envelope.id, ref)), body);

  await ensureConsumer(nats.jsm, STREAMS.bodies, 'headers-only-test', {
    filterSubject: SUBJECTS.bodyAll,
    ackWaitMs: 30_000,
    maxAckPending: 10,
    headersOnly: true,
  });
  const consumer = await nats.js.consumers.get(STREAMS.bodies, 'headers-only-test');
  const seen: number[] = [];
  for (;;) {
    const m = await consumer.next({ expires: 5000 });
    assert.ok(m);
    seen.push(m.seq);
    m.ack();
    if (m.seq !== ref.seq) {
      assert.equal(
        m.headers?.get(ENVELOPE_HEADER) ?? '',
        '',
        'a body stored alone has no envelope',
      );
      continue;
    }
    assert.equal(m.data.byteLength, 0, 'the body is not delivered');
    assert.equal(m.headers?.get('Nats-Msg-Size'), String(body.byteLength));
    assert.deepEqual(envelopeHeader.decode(m.headers?.get(ENVELOPE_HEADER) ?? ''), {
      ...envelope,
      body: { store: 'stream', size: body.byteLength },
    });
    break;
  }
  // From the stream's first message: a consumer created now still sees what was stored before it.
  assert.equal(seen[0], (await nats.jsm.streams.info(STREAMS.bodies)).state.first_seq);
  await nats.jsm.consumers.delete(STREAMS.bodies, 'headers-only-test');
  await bodies.remove(envelope.id, ref);
});

test('a body or envelope too large to share one message is not stored by putWithEnvelope', async () => {
  const envelope = envelopeFor('too-large');
  const before = (await nats.jsm.streams.info(STREAMS.bodies)).state.last_seq;
  assert.equal(await bodies.putWithEnvelope(envelope, Buffer.alloc(800 * 1024)), undefined);
  const many = Array.from({ length: ENVELOPE_HEADER_LIMIT / 20 }, (_, i) => `r${i}@example.test`);
  assert.equal(
    await bodies.putWithEnvelope({ ...envelope, rcpts: many }, Buffer.alloc(10)),
    undefined,
  );
  assert.equal((await nats.jsm.streams.info(STREAMS.bodies)).state.last_seq, before);
});

test('envelopes stored with their bodies count as waiting until the scheduler acknowledges them; no consumer counts 0', async () => {
  assert.equal(await bodyEnvelopesWaiting(nats.jsm), 0);
  await ensureConsumer(nats.jsm, STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes, {
    filterSubject: SUBJECTS.bodyAll,
    ackWaitMs: 30_000,
    maxAckPending: 10,
    headersOnly: true,
  });
  const envelope = {
    v: 1 as const,
    pool: 'local_demo',
    receivedAt: 5,
    from: '',
    rcpts: ['b@x.test'],
  };
  const refs = [
    await bodies.putWithEnvelope({ ...envelope, id: 'waiting-1' }, Buffer.from('one')),
    await bodies.putWithEnvelope({ ...envelope, id: 'waiting-2' }, Buffer.from('two')),
  ];
  assert.equal(await bodyEnvelopesWaiting(nats.jsm), 2);
  const consumer = await nats.js.consumers.get(STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes);
  const handed = await consumer.next({ expires: 5000 });
  assert.ok(handed);
  assert.equal(await bodyEnvelopesWaiting(nats.jsm), 2, 'handed out, not yet acknowledged');
  await handed.ackAck();
  assert.equal(await bodyEnvelopesWaiting(nats.jsm), 1);
  await nats.jsm.consumers.delete(STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes);
  for (const [i, ref] of refs.entries()) if (ref) await bodies.remove(`waiting-${i + 1}`, ref);
});

/**
 * The test's JetStream manager, counting the direct gets made through the client library
 * (those the store's own fast path does not make).
 */
function countingLibraryGets(): { jsm: JetStreamManager; gets: () => number } {
  let gets = 0;
  const direct = nats.jsm.direct;
  const jsm = Object.create(nats.jsm, {
    direct: {
      value: {
        getMessage: (...args: Parameters<typeof direct.getMessage>) => {
          gets += 1;
          return direct.getMessage(...args);
        },
      },
    },
  }) as JetStreamManager;
  return { jsm, gets: () => gets };
}

/**
 * Runs `check` with a store given the test's connection (its fast paths on) and a second
 * connection, to see on the wire the requests the store sends.
 */
async function withWatcher(
  name: string,
  check: (store: BodyStore, watcher: NatsHandles) => Promise<void>,
  jsm: JetStreamManager = nats.jsm,
): Promise<void> {
  const store = await createBodyStore({
    js: nats.js,
    jsm,
    nc: nats.nc,
    replicas: 1,
    maxAgeMs: 3_600_000,
  });
  const watcher = await connectNats({ url: infra.server.url, name });
  try {
    await check(store, watcher);
  } finally {
    await watcher.nc.close();
  }
}

test('given the connection, the store removes a body by a request with no reply subject, and nats-server acts on it', async () => {
  await withWatcher('body-removal-watcher', async (store, watcher) => {
    const requests = watcher.nc.subscribe(SUBJECTS.streamMessageDelete(STREAMS.bodies), {
      max: 1,
    });
    await watcher.nc.flush();
    const ref = await store.put('removed-unanswered', Buffer.from('done with'));
    assert.ok(ref.seq);
    await store.remove('removed-unanswered', ref);
    for await (const request of requests) {
      assert.ok(!request.reply, 'the removal asks for no answer');
      assert.deepEqual(request.json(), { seq: ref.seq, no_erase: true });
    }
    // Nothing answers, so only the stream shows that the server acted: wait for the body
    // to be gone (the request is handled after the publish that stored it, not in step).
    const deadline = Date.now() + 10_000;
    while (
      (await nats.jsm.streams.getMessage(STREAMS.bodies, { seq: ref.seq })) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await assert.rejects(store.get('removed-unanswered', ref), BodyMissingError);
  });
});

test('given the connection, a body is read by one direct get on its subject; a missing or empty one is still told apart', async () => {
  const library = countingLibraryGets();
  await withWatcher(
    'body-get-watcher',
    async (store, watcher) => {
      const body = Buffer.alloc(10 * 1024, 'y');
      const envelope = envelopeFor('read-direct');
      const ref = await store.putWithEnvelope(envelope, body);
      assert.ok(ref);
      const gets = watcher.nc.subscribe('$JS.API.DIRECT.GET.>');
      await watcher.nc.flush();
      assert.deepEqual(Buffer.from(await store.get(envelope.id, ref)), body);
      // What nats-server routed before the watcher's round trip has reached the watcher.
      await watcher.nc.flush();
      assert.equal(gets.getReceived(), 1, 'one direct get for a body that is there');
      assert.equal(library.gets(), 0, 'its reply read as it came, without the library');

      const empty = await store.put('empty-body', Buffer.alloc(0));
      assert.equal((await store.get('empty-body', empty)).byteLength, 0);
      assert.equal(library.gets(), 1, 'an empty reply asked again, its headers read');
      await store.remove(envelope.id, ref);
      await store.remove('empty-body', empty);
      await assert.rejects(
        store.get('never-stored', { store: 'stream', size: 1 }),
        BodyMissingError,
      );
      gets.unsubscribe();
    },
    library.jsm,
  );
});

test('a body no longer in the bodies stream is read from its kept copy; without one, or without that stream, it is missing', async () => {
  const body = Buffer.from('Subject: kept\r\n\r\nstill needed\r\n');
  const ref = await bodies.put('kept-copy', body);
  await nats.js.publish(SUBJECTS.keptBody('kept-copy'), body);
  await nats.jsm.streams.deleteMessage(STREAMS.bodies, ref.seq as number, false);
  assert.deepEqual(Buffer.from(await bodies.get('kept-copy', ref)), body);

  const gone = await bodies.put('no-copy', body);
  await nats.jsm.streams.deleteMessage(STREAMS.bodies, gone.seq as number, false);
  await assert.rejects(bodies.get('no-copy', gone), BodyMissingError);

  // A relay whose streams were made before the kept-bodies stream existed.
  await nats.jsm.streams.delete(STREAMS.bodiesKept);
  try {
    await assert.rejects(bodies.get('kept-copy', ref), BodyMissingError);
  } finally {
    await ensureStreams(nats.jsm);
  }
});
