/**
 * A webhook's durable consumer made by a version that read only the first form of event
 * subjects is moved to both forms without losing or skipping an unacknowledged event.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CONSUMERS,
  codecs,
  createLogger,
  type NatsHandles,
  NO_DIGEST,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import { ensureWebhookConsumer } from '@hikyaku/sender';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';

const POOL = 'mail_transactional';

let infra: TestNats;
let nats: NatsHandles;

before(async () => {
  infra = await startTestNats('webhook-consumer-test');
  nats = infra.nats;
});

after(async () => {
  await infra?.close();
});

function event(id: string) {
  return codecs.event.encode({ v: 1, type: 'delivered', id, pool: POOL, rcpt: 'a@b.test', at: 1 });
}

test('a consumer on the first form moves to both forms from its first unacknowledged event', async () => {
  const durable = CONSUMERS.webhook(POOL, 'crm');
  await nats.jsm.consumers.add(STREAMS.events, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    filter_subject: SUBJECTS.eventsOfPool(POOL),
  });
  for (const id of ['E1', 'E2', 'E3']) {
    await nats.js.publish(SUBJECTS.event(POOL, 'delivered'), event(id));
  }
  const consumer = await nats.js.consumers.get(STREAMS.events, durable);
  const first = await consumer.next({ expires: 5000 });
  assert.equal(first && codecs.event.decode(first.data).id, 'E1');
  await first?.ackAck();

  const deps = {
    nats,
    pool: POOL,
    log: createLogger({ name: 'test', level: 'silent' }),
    webhook: { maxBatchEvents: 100 },
  };
  await ensureWebhookConsumer(deps, durable);
  await nats.js.publish(
    SUBJECTS.deliveryEvent(POOL, 'E4', 'd'.repeat(32), NO_DIGEST, 'delivered'),
    event('E4'),
  );
  const moved = await nats.jsm.consumers.info(STREAMS.events, durable);
  assert.equal(moved.config.filter_subject, SUBJECTS.allEventsOfPool(POOL));
  const read: string[] = [];
  const again = await nats.js.consumers.get(STREAMS.events, durable);
  for (let i = 0; i < 3; i++) {
    const m = await again.next({ expires: 5000 });
    assert.ok(m, `event ${i + 2} not delivered`);
    read.push(codecs.event.decode(m.data).id);
    await m.ackAck();
  }
  assert.deepEqual(read, ['E2', 'E3', 'E4']);

  // Already on both forms: left as it is, its position kept.
  await ensureWebhookConsumer(deps, durable);
  const kept = await nats.jsm.consumers.info(STREAMS.events, durable);
  const last = (await nats.jsm.streams.info(STREAMS.events)).state.last_seq;
  assert.equal(kept.ack_floor.stream_seq, last);
  assert.equal(kept.num_pending, 0);
});
