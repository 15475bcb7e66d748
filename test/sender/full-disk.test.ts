/**
 * JetStream out of space (its data on a small tmpfs, filled up): the sender delivers the
 * messages it has started, cannot store their results, and neither delivers them again nor
 * starts new deliveries while results cannot be stored; once space is freed, the kept
 * results are stored and the other jobs are delivered — each message exactly once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { METRICS, STREAMS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { FILLER_STREAM, fillJetStream, mountSmallDisk } from '../harness/full-disk.ts';
import { metricValue, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

const CONCURRENCY = 4;
const MESSAGES = 12;

const disk = mountSmallDisk('hikyaku-full-disk-');

let receiver: Receiver;
let fixture: SenderFixture;

before(async () => {
  if (disk.skip) return;
  [receiver] = (await startReceivers(['127.0.5.91'])) as [Receiver];
  fixture = await startSenderFixture({
    natsDataDir: join(disk.dir, 'nats'),
    spec: { routes: [{ domains: ['full.test'], host: `${receiver.host}:${receiver.port}` }] },
    env: { HIKYAKU_SENDER_CONCURRENCY: String(CONCURRENCY) },
  });
});

after(async () => {
  await fixture?.stop();
  await receiver?.close();
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

describe('JetStream out of space', { skip: disk.skip }, () => {
  it('delivers each message once and resumes when space is freed', async () => {
    let release: () => void = () => undefined;
    receiver.setBehaviour({ holdReply: new Promise((resolve) => (release = resolve)) });
    for (let i = 0; i < MESSAGES; i++) {
      await fixture.submit({ rcpts: [`r${i}@full.test`] });
    }
    await waitFor('the first deliveries at the receiver', () => receiver.held === CONCURRENCY);

    await fillJetStream(fixture.admin, [256 * 1024]);
    release();
    // Several rounds of retries: a redelivery or a new delivery would have had its chance.
    await waitFor('results failing to be stored, retried', async () => {
      return (await storeFailures()) >= CONCURRENCY * 5;
    });
    assert.equal(receiver.messages.length, CONCURRENCY, 'nothing new delivered meanwhile');
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
    for (const m of receiver.messages) {
      for (const rcpt of m.rcpts) perRecipient.set(rcpt, (perRecipient.get(rcpt) ?? 0) + 1);
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
