import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CONSUMERS,
  createBodyStore,
  ensureConsumer,
  KV_KEYS,
  type NatsHandles,
  openPoolBucket,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import { retireOtherPools } from './pool-switch.ts';

let infra: TestNats;
let nats: NatsHandles;

before(async () => {
  infra = await startTestNats('pool-switch-test');
  nats = infra.nats;
});

after(async () => {
  await infra?.close();
});

test('a pool put away counts as holding mail while any envelope stored with its body waits to be split', async () => {
  const kv = await openPoolBucket(nats.js);
  const retire = async () => {
    for (const key of ['local_old', 'local_new']) await kv.put(KV_KEYS.pool(key), '{}');
    return retireOtherPools(kv, nats.jsm, 'local_new');
  };
  assert.deepEqual(await retire(), [{ pool: 'local_old', waiting: 0 }]);

  await ensureConsumer(nats.jsm, STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes, {
    filterSubject: SUBJECTS.bodyAll,
    ackWaitMs: 30_000,
    maxAckPending: 10,
    headersOnly: true,
  });
  const bodies = await createBodyStore({
    js: nats.js,
    jsm: nats.jsm,
    replicas: 1,
    maxAgeMs: 60_000,
  });
  // Its subject names no pool: it may be the old pool's, so the old pool is not reported empty.
  const envelope = { v: 1 as const, id: 'unsplit', pool: 'local_old', receivedAt: 1, from: '' };
  assert.ok(await bodies.putWithEnvelope({ ...envelope, rcpts: ['a@x.test'] }, Buffer.from('hi')));
  assert.deepEqual(await retire(), [{ pool: 'local_old', waiting: 1 }]);
  assert.deepEqual(await kv.get(KV_KEYS.pool('local_old')).then((e) => e?.operation), 'DEL');
});
