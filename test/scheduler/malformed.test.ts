/**
 * A message no stage can read is dropped, and leaves its work-queue stream: acknowledged,
 * since nats-server 2.9 keeps a terminated message in such a stream for ever (where the
 * consumer watchdog would take it for a stranded one). Mail after it flows as usual.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CONSUMERS, STREAMS, SUBJECTS } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 1 });
let relay: ShapingFixture;

before(async () => {
  relay = await startShapingFixture({ spec: {}, clock, sender: false });
});

after(async () => {
  await relay?.stop();
});

test('a malformed envelope is dropped and leaves the envelopes stream', async () => {
  const { jsm, js } = relay.admin;
  await js.publish(SUBJECTS.envelope(relay.pool.key), 'not an envelope');
  await relay.submit({ to: ['a@example.test'] });
  await waitFor('the envelopes stream empty', async () => {
    const stream = await jsm.streams.info(STREAMS.envelopes);
    return stream.state.messages === 0;
  });
  const consumer = await jsm.consumers.info(STREAMS.envelopes, CONSUMERS.schedulerEnvelopes);
  assert.equal(consumer.num_ack_pending, 0);
  assert.equal(consumer.delivered.stream_seq, 2, 'both handed out once');
  assert.equal(consumer.num_redelivered, 0);
});
