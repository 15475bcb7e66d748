/**
 * Wire versions during a rolling upgrade, through the whole relay (ingress, scheduler and
 * sender as processes) written with HIKYAKU_WIRE_VERSION=2: mail goes through with queue
 * items, jobs and results in the nested v2 shape, retries included; a flat v1 queue item
 * left in the stream by the previous release is delivered, and so is a v2 one; a queue
 * item or job of a version newer than this release is handed back with its code logged,
 * never dropped.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  type BodyStore,
  CONSUMERS,
  connectNats,
  createBodyStore,
  MSG_IDS,
  type NatsHandles,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import type { Subscription } from '@nats-io/transport-node';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

const FROM = 'app@hikyaku.test';
let relay: RelayFixture;
let admin: NatsHandles;
let bodies: BodyStore;
const lines: { name: string; line: string }[] = [];
/** Every queue item, job and result published, as written on the wire. */
const written: { kind: 'queue' | 'job' | 'result'; record: Record<string, unknown> }[] = [];
const subs: Subscription[] = [];

before(async () => {
  relay = await startRelayFixture({
    env: { HIKYAKU_WIRE_VERSION: '2' },
    onOutput: (name, line) => lines.push({ name, line }),
  });
  admin = await connectNats({ url: relay.stack.natsUrl, name: 'wire-versions-test' });
  bodies = await createBodyStore({
    js: admin.js,
    jsm: admin.jsm,
    replicas: 1,
    maxAgeMs: 86_400_000,
  });
  for (const [kind, subject] of [
    ['queue', SUBJECTS.queueAll],
    ['job', SUBJECTS.jobAll],
    ['result', SUBJECTS.resultAll],
    // Results handed to the scheduler directly, as their senders wrote them.
    ['result', SUBJECTS.resultHandoffAll],
  ] as const) {
    const sub = admin.nc.subscribe(subject);
    subs.push(sub);
    (async () => {
      for await (const m of sub) {
        written.push({ kind, record: JSON.parse(Buffer.from(m.data).toString('utf8')) });
      }
    })().catch(() => undefined);
  }
});

after(async () => {
  for (const sub of subs) sub.unsubscribe();
  await admin?.nc.close();
  await relay?.stop();
});

const markerOf = (raw: Buffer): string | undefined =>
  /^Subject: test (\S+)/m.exec(raw.toString('latin1'))?.[1];
const arrived = (marker: string) => relay.sink.messages.some((m) => markerOf(m.raw) === marker);

/** The queue id of a record as written: nested (v2) or flat (v1). */
function idOf(record: Record<string, unknown>): unknown {
  const job = (record.job ?? record) as Record<string, unknown>;
  return (job.delivery as Record<string, unknown> | undefined)?.id ?? job.id;
}

test('written as v2, mail is delivered, a deferred recipient retried', async () => {
  let refusedOnce = false;
  relay.sink.setBehaviour({
    onRcpt: (rcpt) => {
      if (rcpt !== 'later@example.test' || refusedOnce) return undefined;
      refusedOnce = true;
      return { code: 451, message: '4.2.0 try again later' };
    },
  });
  const client = relayClient(relay.stack, 2);
  const ids: string[] = [];
  try {
    for (const [marker, to] of [
      ['v2-one', ['one@example.test']],
      ['v2-two', ['a@example.test', 'later@example.test']],
    ] as const) {
      const info = await client.sendMail({
        envelope: { from: FROM, to: [...to] },
        raw: rawMessage({ from: FROM, to: to[0], marker }),
      });
      const id = /queued as (\S+)/.exec(info.response)?.[1];
      assert.ok(id, info.response);
      ids.push(id);
    }
  } finally {
    client.close();
  }
  await waitFor(
    'both messages delivered, the deferred recipient on its retry',
    () =>
      relay.sink.messages.some(
        (m) => markerOf(m.raw) === 'v2-two' && m.rcpts.includes('later@example.test'),
      ) && arrived('v2-one'),
  );
  assert.ok(refusedOnce, 'the first attempt was deferred');
  const ours = written.filter((w) => ids.includes(idOf(w.record) as string));
  // First attempts leave from the envelope stage as jobs: the retry is the queue record.
  // The last result may still be on its way when the sink has the mail.
  for (const [kind, least] of [
    ['queue', 1],
    ['job', 3],
    ['result', 2],
  ] as const) {
    const records = ours.filter((w) => w.kind === kind);
    assert.ok(records.length >= least, `${kind} records written: ${records.length}`);
    assert.ok(
      records.every((w) => w.record.v === 2),
      `every ${kind} record is v2: ${JSON.stringify(records.map((w) => w.record.v))}`,
    );
  }
  const retry = ours.find(
    (w) => w.kind === 'queue' && w.record.attempt === 1 && Array.isArray(w.record.lastReplies),
  );
  assert.ok(retry, 'the retry was written as a v2 item with its last replies');
  assert.deepEqual((retry.record.delivery as { rcpts: string[] }).rcpts, ['later@example.test']);
});

/** A queue item for one recipient, due now, its body stored first. */
async function queueItemFields(marker: string) {
  const id = randomUUID().replace(/-/g, '');
  const rcpt = `${marker}@example.test`;
  const body = await bodies.put(id, rawMessage({ from: FROM, to: rcpt, marker }));
  const delivery = {
    id,
    pool: relay.stack.pool.key,
    domain: 'example.test',
    from: FROM,
    rcpts: [rcpt],
    body,
    receivedAt: Date.now(),
  };
  return { id, delivery, item: { attempt: 0, notBefore: 0 } };
}

test('a flat v1 queue item left by the previous release is delivered, and a v2 one too', async () => {
  const v1 = await queueItemFields('left-by-v1');
  await admin.js.publish(
    SUBJECTS.queue(relay.stack.pool.key),
    Buffer.from(JSON.stringify({ v: 1, ...v1.delivery, ...v1.item })),
    { msgID: MSG_IDS.queueItem(v1.id, 'example.test', 0) },
  );
  const v2 = await queueItemFields('nested-v2');
  await admin.js.publish(
    SUBJECTS.queue(relay.stack.pool.key),
    Buffer.from(JSON.stringify({ v: 2, delivery: v2.delivery, ...v2.item })),
    { msgID: MSG_IDS.queueItem(v2.id, 'example.test', 0) },
  );
  await waitFor(
    'the v1 and the v2 item delivered',
    () => arrived('left-by-v1') && arrived('nested-v2'),
  );
});

test('a queue item or a job of a newer wire version is handed back with its code, not dropped', async () => {
  const pool = relay.stack.pool.key;
  const future = Buffer.from(JSON.stringify({ v: 3, shape: 'of a later release' }));
  const item = await admin.js.publish(SUBJECTS.queue(pool), future);
  const ip = relay.stack.pool.ips[0]?.address as string;
  const job = await admin.js.publish(SUBJECTS.job(pool, ip), future);
  const logged = (name: string) =>
    lines.some((l) => l.name === name && l.line.includes('HIKYAKU_WIRE_VERSION_NEWER'));
  await waitFor(
    'the scheduler and the sender log the newer version',
    () => logged('scheduler') && logged('sender'),
  );
  for (const [stream, consumer, seq] of [
    [STREAMS.queue, CONSUMERS.schedulerQueue, item.seq],
    [STREAMS.jobs, CONSUMERS.senderJobs(pool, ip), job.seq],
  ] as const) {
    // Terminated, a work-queue stream would have removed it; handed back, it waits.
    const kept = await admin.jsm.streams.getMessage(stream, { seq });
    assert.ok(kept, `${stream} still holds the message`);
    assert.equal(JSON.parse(Buffer.from(kept.data).toString('utf8')).v, 3);
    const info = await admin.jsm.consumers.info(stream, consumer);
    assert.ok(info.delivered.stream_seq >= seq, `${consumer} has read it`);
    assert.ok(info.num_ack_pending >= 1, `${consumer} holds it for redelivery`);
  }
});
