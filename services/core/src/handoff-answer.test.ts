import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildServer, freePort, startNatsServer } from '@hikyaku/testing';
import { AckPolicy, type JsMsg, RetentionPolicy } from '@nats-io/jetstream';
import { headers, type Msg } from '@nats-io/transport-node';
import { HANDOFF_JOB_ACK_HEADER, handoffReplies } from './contract/handoff.ts';
import { answerRecordedHandoff, jobAckSubject } from './handoff-answer.ts';
import { connectNats, type NatsHandles } from './nats.ts';

const STREAM = 'HANDOFF_ANSWER_TEST';
const HANDOFF = 'handoff-answer-test.handoff';

let dir: string;
let server: ChildServer;
let sender: NatsHandles;
let scheduler: NatsHandles;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-handoff-answer-'));
  server = await startNatsServer({ port: await freePort(), dataDir: dir });
  sender = await connectNats({ url: server.url, name: 'handoff-answer-sender' });
  scheduler = await connectNats({ url: server.url, name: 'handoff-answer-scheduler' });
  await sender.jsm.streams.add({
    name: STREAM,
    subjects: ['handoff-answer-test.job.>'],
    retention: RetentionPolicy.Workqueue,
  });
  await sender.jsm.consumers.add(STREAM, { durable_name: 'jobs', ack_policy: AckPolicy.Explicit });
  // The scheduler's side: every hand-off is recorded at once and answered.
  scheduler.nc.subscribe(HANDOFF, {
    callback: (err, msg: Msg) => {
      if (!err) answerRecordedHandoff(scheduler.nc, msg);
    },
  });
  await scheduler.nc.flush();
});

after(async () => {
  await sender?.nc.close();
  await scheduler?.nc.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function takeJob(name: string): Promise<JsMsg> {
  await sender.js.publish(`handoff-answer-test.job.${name}`, name);
  const consumer = await sender.js.consumers.get(STREAM, 'jobs');
  const job = await consumer.next({ expires: 5000 });
  assert.ok(job, 'a job handed out');
  return job;
}

const unacknowledged = async () =>
  (await sender.jsm.consumers.info(STREAM, 'jobs')).num_ack_pending;

test('a hand-off naming its job acknowledgement gets the job acknowledged by the scheduler, and nats-server answers the sender', async () => {
  const job = await takeJob('acked');
  const ack = jobAckSubject(job);
  assert.ok(ack, 'the pinned client keeps the subject');
  assert.ok(ack.startsWith(`$JS.ACK.${STREAM}.jobs.`));
  const h = headers();
  h.set(HANDOFF_JOB_ACK_HEADER, ack);
  const answer = await sender.nc.request(HANDOFF, 'result', { timeout: 5000, headers: h });
  assert.ok(handoffReplies.isJobAcked(answer.data), 'an empty answer: the job is acknowledged');
  assert.equal(await unacknowledged(), 0);
  assert.equal((await sender.jsm.streams.info(STREAM)).state.messages, 0, 'the job is gone');
});

test('without the header, or with a subject that is no acknowledgement, the answer is OK and the job is the sender’s to acknowledge', async () => {
  const job = await takeJob('plain');
  const plain = await sender.nc.request(HANDOFF, 'result', { timeout: 5000 });
  assert.deepEqual(handoffReplies.decode(plain.data), { ok: true });
  const h = headers();
  h.set(HANDOFF_JOB_ACK_HEADER, 'handoff-answer-test.job.elsewhere');
  const stray = await sender.nc.request(HANDOFF, 'result', { timeout: 5000, headers: h });
  assert.deepEqual(handoffReplies.decode(stray.data), { ok: true });
  assert.equal(await unacknowledged(), 1, 'still the sender’s');
  await job.ackAck();
  assert.equal(await unacknowledged(), 0);
});
