/**
 * Delivery slots and held jobs: a job gives its delivery slot to the next once its outcome
 * is known, not once the scheduler has recorded its result, and the sender holds up to
 * twice as many jobs per IP as it has slots. A job waiting for a slot when the sender stops
 * is handed back, not delivered.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { handoffReplies, METRICS, SUBJECTS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { IP1, metricValue, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

let receiver: Receiver | undefined;
let fixture: SenderFixture | undefined;
let handoffs: Subscription | undefined;

async function start(): Promise<{ receiver: Receiver; fixture: SenderFixture }> {
  [receiver] = (await startReceivers(['127.0.5.101'])) as [Receiver];
  fixture = await startSenderFixture({
    spec: { routes: [{ domains: ['held.test'], host: `${receiver.host}:${receiver.port}` }] },
    env: {
      HIKYAKU_SENDER_CONCURRENCY: '1',
      HIKYAKU_SENDER_GATHER_MS: '0',
      HIKYAKU_RESULT_HANDOFF_TIMEOUT_MS: '60000',
      HIKYAKU_SHUTDOWN_GRACE_MS: '20000',
    },
  });
  return { receiver, fixture };
}

afterEach(async () => {
  handoffs?.unsubscribe();
  await fixture?.stop();
  await receiver?.close();
  handoffs = undefined;
  fixture = undefined;
  receiver = undefined;
});

describe('held jobs', () => {
  it('a delivered job frees its slot before its result is recorded; twice the slots are held', {
    timeout: 60_000,
  }, async () => {
    const { receiver, fixture } = await start();
    // A scheduler that takes the hand-offs and answers only when told.
    const taken: Msg[] = [];
    handoffs = fixture.admin.nc.subscribe(SUBJECTS.resultHandoff(fixture.pool.key), {
      callback: (_err, msg) => {
        taken.push(msg);
      },
    });
    await fixture.admin.nc.flush();

    for (const r of ['a', 'b', 'c']) await fixture.submit({ rcpts: [`${r}@held.test`] });
    // One delivery slot: the second job is delivered while the first job's result waits.
    await waitFor('two deliveries, both results unanswered', () =>
      receiver.messages.length === 2 && taken.length === 2 ? true : undefined,
    );
    // Two jobs held for one slot; the third stays in the stream.
    assert.deepEqual(await fixture.jobs(), { held: 2, waiting: 1 });
    const labels = { pool: fixture.pool.key, ip: IP1.address };
    assert.equal(
      metricValue(await fixture.metrics(), METRICS.senderJobsInProgress, labels),
      2,
      'both jobs are held',
    );
    assert.equal(receiver.messages.length, 2);

    // Recorded: the first job is acknowledged, and the third comes in its place.
    (taken[0] as Msg).respond(handoffReplies.ok());
    await waitFor('the third delivery', () => (taken.length === 3 ? true : undefined));
    for (const msg of taken.slice(1)) msg.respond(handoffReplies.ok());
    await waitFor('every job acknowledged', async () => {
      const state = await fixture.jobs();
      return state.held === 0 && state.waiting === 0 ? true : undefined;
    });
    assert.deepEqual(
      receiver.messages.map((m) => m.rcpts[0]),
      ['a@held.test', 'b@held.test', 'c@held.test'],
    );
    assert.equal(fixture.results.length, 0, 'every result was taken by the scheduler');
  });

  it('a job waiting for a slot when the sender stops is handed back, not delivered', {
    timeout: 60_000,
  }, async () => {
    const { receiver, fixture } = await start();
    let release = (): void => undefined;
    receiver.setBehaviour({ holdReply: new Promise<void>((r) => (release = r)) });

    const first = await fixture.submit({ rcpts: ['first@held.test'] });
    await waitFor('the first message in its transfer', () =>
      receiver.held === 1 ? true : undefined,
    );
    const second = await fixture.submit({ rcpts: ['second@held.test'] });
    await waitFor('the second job held, waiting for the slot', async () =>
      (await fixture.jobs()).held === 2 ? true : undefined,
    );

    const sender = fixture.sender;
    assert.ok(sender);
    const stopped = sender.lifecycle.shutdown('test');
    const labels = { pool: fixture.pool.key, ip: IP1.address };
    // Handed back at once, while the first job's transfer still holds the slot.
    await waitFor('the waiting job handed back', async () =>
      metricValue(await fixture.metrics(), METRICS.senderHandedBack, labels) === 1
        ? true
        : undefined,
    );
    release();
    await stopped;

    const result = await fixture.result(first);
    assert.equal(result.outcomes[0]?.status, 'delivered');
    assert.deepEqual(
      receiver.messages.map((m) => m.rcpts[0]),
      ['first@held.test'],
      'only the job in its slot was delivered',
    );
    assert.equal(
      fixture.results.find((r) => r.job.jobId === second.jobId),
      undefined,
      'the second job has no result: it is back in the stream',
    );
  });
});
