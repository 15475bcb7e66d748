/**
 * The watchdog on a real nats-server: a consumer whose delivered floor lies past messages its
 * work-queue stream still holds (the state nats-server 2.9 leaves after resetting a replica)
 * is recreated and the messages are delivered; a consumer that is merely busy is left alone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNats, type TestNats, waitFor } from '@hikyaku/testing';
import { AckPolicy, RetentionPolicy } from '@nats-io/jetstream';
import { type ConsumerLoop, startConsumerLoop } from './consume.ts';
import { createLogger } from './log.ts';
import type { NatsHandles } from './nats.ts';

let infra: TestNats;
let nats: NatsHandles;
const log = createLogger({ name: 'watchdog-test', level: 'silent' });

before(async () => {
  infra = await startTestNats('watchdog-test', { streams: false });
  nats = infra.nats;
});

after(async () => {
  await infra?.close();
});

async function workQueue(name: string, messages: number): Promise<string> {
  const subject = `${name}.a`;
  await nats.jsm.streams.add({
    name,
    subjects: [`${name}.>`],
    retention: RetentionPolicy.Workqueue,
  });
  for (let i = 0; i < messages; i++) await nats.js.publish(subject, `m${i}`);
  return subject;
}

async function runLoop(
  stream: string,
  subject: string,
  handle: (seq: number) => Promise<void>,
): Promise<{ loop: ConsumerLoop; recreated: () => number }> {
  let recreated = 0;
  const loop = await startConsumerLoop({
    js: nats.js,
    stream,
    durable: 'worker',
    concurrency: 4,
    log,
    handle: async (msg) => {
      await handle(msg.seq);
      msg.ack();
    },
    watchdog: {
      jsm: nats.jsm,
      subject,
      intervalMs: 1000,
      recreated: () => {
        recreated++;
      },
    },
  });
  return { loop, recreated: () => recreated };
}

test('a consumer past messages its stream still holds is recreated and delivers them', async () => {
  const subject = await workQueue('STRANDED', 3);
  // Every message handed out once and never acknowledged: with one delivery allowed, the
  // consumer drops them when their ack wait ends. That leaves its floor past all three with
  // nothing pending or unacknowledged, as a reset replica does (the relay's consumers allow
  // any number of deliveries, so for them nothing else does).
  await nats.jsm.consumers.add('STRANDED', {
    durable_name: 'worker',
    ack_policy: AckPolicy.Explicit,
    max_deliver: 1,
    filter_subject: subject,
    ack_wait: 1_000_000_000,
  });
  const consumer = await nats.js.consumers.get('STRANDED', 'worker');
  const batch = await consumer.fetch({ max_messages: 3, expires: 2000 });
  let fetched = 0;
  for await (const _ of batch) fetched++;
  assert.equal(fetched, 3);
  await waitFor('the ack wait over', async () => {
    // A pull makes the server look at what is due again, and drop what may not be.
    for await (const _ of await consumer.fetch({ max_messages: 1, expires: 1000 })) fetched++;
    const info = await nats.jsm.consumers.info('STRANDED', 'worker');
    return info.num_ack_pending === 0;
  });
  assert.equal(fetched, 3, 'nothing delivered twice');
  const before = await nats.jsm.consumers.info('STRANDED', 'worker');
  assert.equal(before.num_pending, 0);
  assert.equal(before.delivered.stream_seq, 3);
  assert.equal((await nats.jsm.streams.info('STRANDED')).state.messages, 3);

  const handled: number[] = [];
  const { loop, recreated } = await runLoop('STRANDED', subject, async (seq) => {
    handled.push(seq);
  });
  try {
    await waitFor('the stranded messages delivered', () => handled.length >= 3, {
      timeoutMs: 30_000,
    });
    assert.deepEqual(
      handled.sort((a, b) => a - b),
      [1, 2, 3],
    );
    assert.equal(recreated(), 1);
    const after = await nats.jsm.consumers.info('STRANDED', 'worker');
    assert.equal(after.config.filter_subject, subject, 'the same configuration');
    assert.equal(after.config.max_deliver, 1);
    await waitFor(
      'the stream emptied',
      async () => (await nats.jsm.streams.info('STRANDED')).state.messages === 0,
    );
  } finally {
    await loop.stop();
  }
});

test('a consumer busy with its messages for several checks is not recreated', async () => {
  const subject = await workQueue('BUSY', 4);
  await nats.jsm.consumers.add('BUSY', {
    durable_name: 'worker',
    ack_policy: AckPolicy.Explicit,
    filter_subject: subject,
    ack_wait: 30_000_000_000,
  });
  const handled: number[] = [];
  // Each message is worked on for longer than two checks.
  const { loop, recreated } = await runLoop('BUSY', subject, async (seq) => {
    await new Promise((resolve) => setTimeout(resolve, 3500));
    handled.push(seq);
  });
  try {
    await waitFor('all handled', () => handled.length >= 4, { timeoutMs: 30_000 });
    assert.equal(recreated(), 0);
    assert.deepEqual(
      handled.sort((a, b) => a - b),
      [1, 2, 3, 4],
      'each message handled once',
    );
  } finally {
    await loop.stop();
  }
});
