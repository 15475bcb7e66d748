/**
 * Drain: a sender process gets SIGTERM during a delivery. A transaction that completes
 * within the grace period is finished and its result published; a job still unfinished
 * when the grace period runs out is handed back to JetStream and redelivered at once to
 * the next sender, so nothing is lost.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CONSUMERS, STREAMS } from '@hikyaku/core';
import { type ServiceProcess, serviceProcess } from '@hikyaku/local';
import { freePort, waitFor } from '@hikyaku/testing';
import { IP1, type SenderFixture, startSenderFixture, testMessage } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

let receiver: Receiver;
let fixture: SenderFixture;

before(async () => {
  [receiver] = (await startReceivers(['127.0.5.71'])) as [Receiver];
  fixture = await startSenderFixture({
    start: false,
    spec: { routes: [{ domains: ['drain.test'], host: `${receiver.host}:${receiver.port}` }] },
    env: { HIKYAKU_SHUTDOWN_GRACE_MS: '4000', HIKYAKU_DATA_TIMEOUT_MS: '300000' },
  });
});

after(async () => {
  await fixture?.stop();
  await receiver?.close();
});

async function senderProcess(): Promise<ServiceProcess> {
  const proc = serviceProcess({
    name: 'sender',
    command: 'sender',
    env: fixture.env,
    opsPort: await freePort(),
    onOutput: (_name, line) => {
      if (process.env.HIKYAKU_TEST_LOG_LEVEL) process.stderr.write(`[sender] ${line}\n`);
    },
  });
  await proc.start();
  return proc;
}

function readyStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

async function jobsState() {
  const stream = await fixture.admin.jsm.streams.info(STREAMS.jobs);
  const consumer = await fixture.admin.jsm.consumers.info(
    STREAMS.jobs,
    CONSUMERS.senderJobs(fixture.pool.key, IP1.address),
  );
  return { messages: stream.state.messages, ackPending: consumer.num_ack_pending };
}

describe('drain on SIGTERM', () => {
  it('finishes a transaction in progress within the grace period and publishes its result', async () => {
    const proc = await senderProcess();
    let release: () => void = () => undefined;
    receiver.setBehaviour({ holdReply: new Promise((resolve) => (release = resolve)) });
    const raw = testMessage({ from: 'news@shop.test', to: 'a@drain.test', subject: 'finish' });
    const job = await fixture.submit({ rcpts: ['a@drain.test'], raw });
    await waitFor('the message at the receiver', () => receiver.held === 1);

    const exited = proc.stop();
    await waitFor(
      'the sender to begin shutting down',
      async () => (await readyStatus(proc.opsPort)) !== 200,
    );
    release();
    await exited;

    const result = await fixture.result(job);
    assert.equal(result.outcomes[0]?.status, 'delivered');
    assert.deepEqual(await jobsState(), { messages: 0, ackPending: 0 }, 'the job was acknowledged');
  });

  it('hands back a job unfinished at the end of the grace period; it is redelivered, not lost', async () => {
    receiver.setBehaviour({ stallData: true });
    const proc = await senderProcess();
    const raw = testMessage({ from: 'news@shop.test', to: 'b@drain.test', subject: 'handback' });
    const job = await fixture.submit({ rcpts: ['b@drain.test', 'c@drain.test'], raw });
    await waitFor('the receiver to stall', () => receiver.stalled === 1);

    await proc.stop();
    assert.equal(
      fixture.results.find((r) => r.job.jobId === job.jobId),
      undefined,
      'no result for a job handed back',
    );
    assert.equal((await jobsState()).messages, 1, 'the job is still in the stream');

    // The next sender gets it soon: handed back, not left to the ack wait of 60 s, which
    // would outlast this wait.
    receiver.setBehaviour({});
    await fixture.startSender();
    const result = await fixture.result(job, 20_000);
    assert.deepEqual(
      result.outcomes.map((o) => [o.rcpt, o.status]),
      [
        ['b@drain.test', 'delivered'],
        ['c@drain.test', 'delivered'],
      ],
    );
    const copies = receiver.messages.filter((m) => m.raw.includes('Subject: handback\r\n'));
    assert.equal(copies.length, 1);
    assert.deepEqual(await jobsState(), { messages: 0, ackPending: 0 });
  });
});
