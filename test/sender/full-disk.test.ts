/**
 * JetStream out of space (its data on a small tmpfs, filled up): the sender delivers the
 * messages it has started or given a delivery slot, cannot store their results, and neither
 * delivers them again nor starts another delivery once a result failed to be stored; once
 * space is freed, the kept results are stored and the other jobs are delivered — each
 * message exactly once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { METRICS, STREAMS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { FILLER_STREAM, fillJetStream, mountSmallDisk } from '../harness/full-disk.ts';
import { metricValue, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

/** Delivery slots of the IP; the sender holds twice as many jobs. */
const CONCURRENCY = 2;
const MESSAGES = 8;

const disk = mountSmallDisk('hikyaku-full-disk-');

/** Answers once told to; then at once. */
let quick: Receiver;
/** Answers once told to, later than `quick`. */
let slow: Receiver;
let fixture: SenderFixture;

before(async () => {
  if (disk.skip) return;
  [quick, slow] = (await startReceivers(['127.0.5.91', '127.0.5.93'])) as [Receiver, Receiver];
  fixture = await startSenderFixture({
    natsDataDir: join(disk.dir, 'nats'),
    spec: {
      routes: [
        { domains: ['quick.test'], host: `${quick.host}:${quick.port}` },
        { domains: ['slow.test'], host: `${slow.host}:${slow.port}` },
      ],
    },
    env: { HIKYAKU_SENDER_CONCURRENCY: String(CONCURRENCY) },
  });
});

after(async () => {
  await fixture?.stop();
  await quick?.close();
  await slow?.close();
  disk.unmount();
});

/** Results in the results stream (nothing consumes them here). */
async function storedResults(): Promise<number> {
  return (await fixture.admin.jsm.streams.info(STREAMS.results)).state.messages;
}

async function storeFailures(): Promise<number> {
  const text = await fixture.metrics();
  return metricValue(text, METRICS.senderResultStoreFailures, { pool: fixture.pool.key }) ?? 0;
}

const rcptsOf = (r: Receiver): string[] => r.messages.flatMap((m) => m.rcpts);

describe('JetStream out of space', { skip: disk.skip }, () => {
  it('delivers each message once and resumes when space is freed', {
    timeout: 120_000,
  }, async () => {
    let releaseQuick: () => void = () => undefined;
    let releaseSlow: () => void = () => undefined;
    quick.setBehaviour({ holdReply: new Promise((resolve) => (releaseQuick = resolve)) });
    slow.setBehaviour({ holdReply: new Promise((resolve) => (releaseSlow = resolve)) });
    // Both slots busy, each job in its transfer at a receiver that holds its reply.
    await fixture.submit({ rcpts: ['x@slow.test'] });
    await waitFor('x in its transfer', () => slow.held === 1);
    await fixture.submit({ rcpts: ['y@quick.test'] });
    await waitFor('y in its transfer', () => quick.held === 1);
    // z and w are held, waiting for a slot; the rest stays in the stream.
    await fixture.submit({ rcpts: ['z@quick.test'] });
    await fixture.submit({ rcpts: ['w@quick.test'] });
    for (let i = 4; i < MESSAGES; i++) await fixture.submit({ rcpts: [`r${i}@quick.test`] });
    await waitFor(
      'twice the slots held',
      async () => (await fixture.jobs()).held === 2 * CONCURRENCY,
    );

    await fillJetStream(fixture.admin, [256 * 1024]);
    // y's slot goes to z at once, before y's result fails to be stored: z is delivered (its
    // reply held, so that it ends after that failure).
    let releaseZ: () => void = () => undefined;
    releaseQuick();
    quick.setBehaviour({ holdReply: new Promise((resolve) => (releaseZ = resolve)) });
    await waitFor('y answered and its result failing to be stored, z in its transfer', async () => {
      return (await storeFailures()) >= 1 && quick.messages.length === 1 && quick.held === 2;
    });
    // The slots of z and x go to w now that results fail to be stored: w waits, undelivered.
    releaseZ();
    releaseSlow();
    await waitFor(
      'z and x delivered',
      () => quick.messages.length >= 2 && slow.messages.length === 1,
    );
    const failures = await storeFailures();
    // Several rounds of retries: a redelivery or a new delivery would have had its chance.
    await waitFor('results failing to be stored, retried', async () => {
      return (await storeFailures()) >= failures + 6;
    });
    assert.deepEqual(rcptsOf(quick), ['y@quick.test', 'z@quick.test'], 'w waits for storage');
    assert.deepEqual(rcptsOf(slow), ['x@slow.test']);
    assert.equal(await storedResults(), 0);

    await fixture.admin.jsm.streams.delete(FILLER_STREAM);
    await waitFor(
      'a result stored for every job',
      async () => {
        return (await storedResults()) === MESSAGES;
      },
      { timeoutMs: 60_000 },
    );
    const perRecipient = new Map<string, number>();
    for (const rcpt of [...rcptsOf(quick), ...rcptsOf(slow)]) {
      perRecipient.set(rcpt, (perRecipient.get(rcpt) ?? 0) + 1);
    }
    assert.equal(perRecipient.size, MESSAGES);
    assert.deepEqual(
      [...perRecipient].filter(([, n]) => n > 1),
      [],
      'no message delivered twice',
    );
    // Core NATS subscribers saw every attempt to publish, stored or not.
    assert.ok(fixture.results.every((r) => r.outcomes[0]?.status === 'delivered'));
  });
});
