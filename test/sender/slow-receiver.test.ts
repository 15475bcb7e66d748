/**
 * A slow receiver never causes a second delivery: every reply to DATA takes 20 s, the
 * sender works on more jobs than it may open connections (jobs wait for a connection) and
 * twice as many are queued, yet each message reaches the receiver exactly once. A job
 * handed to the sender must not sit past its ack wait (30 s) without reporting progress,
 * or JetStream hands it out again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONSUMERS, type Job, STREAMS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { IP1, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

const MESSAGES = 300;
const CONCURRENCY = 150;
const CONNECTIONS = 100;
const REPLY_DELAY_MS = 20_000;

let receiver: Receiver;
let fixture: SenderFixture;

before(async () => {
  [receiver] = (await startReceivers(['127.0.5.81'])) as [Receiver];
  receiver.setBehaviour({ replyDelayMs: REPLY_DELAY_MS });
  fixture = await startSenderFixture({
    spec: {
      routes: [{ domains: ['slow.test'], host: `${receiver.host}:${receiver.port}` }],
      ratePolicies: [
        {
          name: 'slow',
          match: { domains: ['slow.test'] },
          perIp: { connections: CONNECTIONS, messagesPerConnection: 1000 },
        },
      ],
    },
    env: { HIKYAKU_SENDER_CONCURRENCY: String(CONCURRENCY) },
  });
});

after(async () => {
  await fixture?.stop();
  await receiver?.close();
});

describe('a receiver taking 20 s per message', () => {
  it('gets each of 300 messages once', { timeout: 240_000 }, async () => {
    const jobs: Job[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      jobs.push(await fixture.submit({ rcpts: [`r${i}@slow.test`], policy: 'slow' }));
    }
    await waitFor('a result for every job', () => fixture.results.length >= MESSAGES, {
      timeoutMs: 200_000,
    });

    const perRecipient = new Map<string, number>();
    for (const m of receiver.messages) {
      for (const rcpt of m.rcpts) perRecipient.set(rcpt, (perRecipient.get(rcpt) ?? 0) + 1);
    }
    const twice = [...perRecipient].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no recipient got its message twice');
    assert.equal(perRecipient.size, MESSAGES);
    assert.equal(fixture.results.length, MESSAGES, 'one result per job');
    for (const job of jobs) {
      const result = fixture.results.find((r) => r.job.jobId === job.jobId);
      assert.equal(result?.outcomes[0]?.status, 'delivered');
    }
    const consumer = await fixture.admin.jsm.consumers.info(
      STREAMS.jobs,
      CONSUMERS.senderJobs(fixture.pool.key, IP1.address),
    );
    // Every delivery to the sender counts, redeliveries included, even once acknowledged.
    assert.equal(consumer.delivered.consumer_seq, MESSAGES, 'no job was handed out twice');
  });
});
