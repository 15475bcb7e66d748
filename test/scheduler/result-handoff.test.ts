/**
 * Results handed from the sender to the scheduler without a stored write: delivered mail
 * leaves HIKYAKU_RESULTS untouched; with no scheduler subscribed (stopped, or not started
 * yet) the results go to the stream, and with a scheduler that takes a hand-off and never
 * answers, the job stays in HIKYAKU_JOBS until the stream has the result; a scheduler
 * started afterwards records them all. A hand-off answered too late is recorded once more
 * from the stream: its event is stored once and its counters count it once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  CONSUMERS,
  codecs,
  handoffReplies,
  type Job,
  METRICS,
  MSG_IDS,
  outcomeField,
  QUEUE_GROUPS,
  REDIS_KEYS,
  type ServiceContext,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import { calendarDayKey } from '@hikyaku/core/policy';
import { createTestClock, runScheduler } from '@hikyaku/scheduler';
import { runSender } from '@hikyaku/sender';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import type { Subscription } from '@nats-io/transport-node';
import { metricValue } from '../sender/harness.ts';
import {
  IP1,
  message,
  type ShapingFixture,
  startShapingFixture,
  storedEvents,
  waitFor,
} from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z') });
let sink: SmtpSink;
let relay: ShapingFixture;
let sender: ServiceContext;
let scheduler: ServiceContext | undefined;
/** Makes the sink run this when it takes a recipient (once). */
let onDelivery: (() => void) | undefined;

before(async () => {
  sink = await startSmtpSink({
    host: '127.0.0.26',
    port: 0,
    behaviour: {
      onRcpt() {
        onDelivery?.();
        onDelivery = undefined;
        return undefined;
      },
    },
  });
  relay = await startShapingFixture({
    clock,
    sender: false,
    spec: { routes: [{ domains: ['handoff.test'], host: `127.0.0.26:${sink.port}` }] },
    env: { HIKYAKU_RESULT_HANDOFF_TIMEOUT_MS: '1000' },
  });
  scheduler = relay.schedulers[0];
  sender = await runSender(relay.env, { handleSignals: false });
});

after(async () => {
  await sender?.lifecycle.shutdown('test over');
  // The fixture stops the schedulers it started; one started here is stopped here.
  if (scheduler && !relay?.schedulers.includes(scheduler)) {
    await scheduler.lifecycle.shutdown('test over');
  }
  await relay?.stop();
  await sink?.close();
});

const resultsStream = () => relay.admin.jsm.streams.info(STREAMS.results);
const lastResult = async () => {
  const stored = await relay.admin.jsm.streams.getMessage(STREAMS.results, {
    last_by_subj: SUBJECTS.result(relay.pool.key),
  });
  assert.ok(stored, 'a result in the stream');
  return stored;
};

async function metric(ctx: ServiceContext, name: string, labels: Record<string, string>) {
  return metricValue(await ctx.registry.metrics(), name, labels) ?? 0;
}

/** A job published the way the scheduler publishes one, its body stored first. */
async function publishJob(rcpt: string): Promise<Job> {
  const id = randomUUID().replace(/-/g, '');
  const from = 'app@sender.test';
  const job: Job = {
    jobId: MSG_IDS.job(id, 'handoff.test', 0),
    delivery: {
      id,
      pool: relay.pool.key,
      domain: 'handoff.test',
      from,
      rcpts: [rcpt],
      body: await relay.bodies.put(id, message({ from, to: rcpt })),
      receivedAt: clock.now(),
    },
    ip: IP1.address,
    policy: 'default',
    attempt: 0,
  };
  await relay.admin.js.publish(SUBJECTS.job(relay.pool.key, IP1.address), codecs.job.encode(job), {
    msgID: job.jobId,
  });
  return job;
}

const deliveredTo = (rcpt: string) => sink.messages.some((m) => m.rcpts.includes(rcpt));

test('a result handed to the scheduler is recorded without a write to HIKYAKU_RESULTS', async () => {
  // The job's acknowledgement, as nats-server receives it: from the scheduler, with the
  // sender's hand-off inbox as reply subject, and none from the sender itself.
  const acks: Array<string | undefined> = [];
  const ackWatch = relay.admin.nc.subscribe(`$JS.ACK.${STREAMS.jobs}.>`, {
    callback: (_err, m) => {
      acks.push(m.reply);
    },
  });
  await relay.admin.nc.flush();
  const id = await relay.submit({ to: ['first@handoff.test'] });
  const pool = relay.pool.key;
  // The sender counts the hand-off on the scheduler's answer, once all is recorded.
  await waitFor('the result handed off', async () => {
    return (
      (await metric(sender, METRICS.senderResultHandoffs, { pool, outcome: 'handed_off' })) === 1
    );
  });
  assert.equal(await storedEvents(relay.admin.jsm, id, 'delivered'), 1);
  assert.equal((await resultsStream()).state.last_seq, 0);
  assert.equal(
    await metric(scheduler as ServiceContext, METRICS.schedulerResults, {
      pool,
      path: 'handoff',
      repeat: 'false',
    }),
    1,
  );
  // Recorded in full: the message's last group is closed, so its body's removal was asked
  // for with the answer.
  await waitFor('the body removed', async () => {
    const body = await relay.admin.jsm.streams.info(STREAMS.bodies, {
      subjects_filter: SUBJECTS.body(id),
    });
    return body.state.messages === 0;
  });
  await waitFor('the job acknowledged', async () => acks.length > 0);
  ackWatch.unsubscribe();
  assert.equal(acks.length, 1, 'one acknowledgement of the job');
  assert.ok(acks[0]?.startsWith('_INBOX.'), 'sent by the scheduler, answered to the sender');
});

test('a hand-off answered too late is recorded again from the stream, once', async () => {
  const pool = relay.pool.key;
  // Redis takes no writes for 3 s from the moment the receiver takes the recipient: the
  // scheduler stores the event, then waits on its counters beyond the sender's 1 s.
  onDelivery = () => {
    relay.redis.client('PAUSE', 3000, 'WRITE').catch(() => undefined);
  };
  const id = await relay.submit({ to: ['late@handoff.test'] });
  await waitFor('the stream copy recorded as a repeat', async () => {
    const repeats = await metric(scheduler as ServiceContext, METRICS.schedulerResults, {
      pool,
      path: 'stream',
      repeat: 'true',
    });
    return repeats === 1;
  });
  assert.equal(await metric(sender, METRICS.senderResultHandoffs, { pool, outcome: 'timeout' }), 1);
  assert.equal((await resultsStream()).state.last_seq, 1);
  assert.equal(await storedEvents(relay.admin.jsm, id, 'delivered'), 1);
  const counters = await relay.redis.hget(
    REDIS_KEYS.outcomesOnDay(pool, calendarDayKey(clock.now(), relay.pool.timeZone)),
    outcomeField(IP1.address, 'delivered'),
  );
  // The first message and this one, each once, whichever IP the first left from.
  const other = await relay.redis.hget(
    REDIS_KEYS.outcomesOnDay(pool, calendarDayKey(clock.now(), relay.pool.timeZone)),
    outcomeField('127.0.0.3', 'delivered'),
  );
  assert.equal(Number(counters ?? 0) + Number(other ?? 0), 2);
});

test('a hand-off the scheduler cannot read is answered with its code, not dropped', async () => {
  const subject = SUBJECTS.resultHandoff(relay.pool.key);
  const garbage = await relay.admin.nc.request(subject, Buffer.from('not a result'));
  const bad = handoffReplies.decode(garbage.data);
  assert.equal(bad.ok ? 'ok' : bad.code, 'HIKYAKU_BAD_MESSAGE');
  const newer = await relay.admin.nc.request(subject, Buffer.from(JSON.stringify({ v: 99 })));
  const answer = handoffReplies.decode(newer.data);
  assert.equal(answer.ok ? 'ok' : answer.code, 'HIKYAKU_WIRE_VERSION_NEWER');
});

test('with no scheduler subscribed, results go to the stream', async () => {
  await (scheduler as ServiceContext).lifecycle.shutdown('test: the scheduler stops');
  const before = (await resultsStream()).state.last_seq;
  const job = await publishJob('alone@handoff.test');
  await waitFor('the result stored in the stream', async () => {
    return (await resultsStream()).state.last_seq === before + 1;
  });
  assert.ok(deliveredTo('alone@handoff.test'));
  assert.equal(
    await metric(sender, METRICS.senderResultHandoffs, {
      pool: relay.pool.key,
      outcome: 'no_responders',
    }),
    1,
  );
  await waitFor('the job acknowledged', async () => {
    return (await relay.admin.jsm.streams.info(STREAMS.jobs)).state.messages === 0;
  });
  assert.equal(codecs.result.decode((await lastResult()).data).job.jobId, job.jobId);
});

test('a hand-off taken and never answered leaves the job held until the stream has its result', async () => {
  const taken: string[] = [];
  // A scheduler that took the hand-off and died before answering.
  const silent: Subscription = relay.admin.nc.subscribe(SUBJECTS.resultHandoffAll, {
    queue: QUEUE_GROUPS.resultHandoff,
    callback: (_err, msg) => {
      taken.push(codecs.result.decode(msg.data).job.jobId);
    },
  });
  try {
    const before = (await resultsStream()).state.last_seq;
    const job = await publishJob('unanswered@handoff.test');
    await waitFor('the hand-off taken', () => taken.includes(job.jobId));
    const consumer = await relay.admin.jsm.consumers.info(
      STREAMS.jobs,
      CONSUMERS.senderJobs(relay.pool.key, IP1.address),
    );
    assert.equal(consumer.num_ack_pending, 1, 'the job is not acknowledged while it waits');
    assert.equal((await relay.admin.jsm.streams.info(STREAMS.jobs)).state.messages, 1);
    await waitFor('the result stored in the stream', async () => {
      return (await resultsStream()).state.last_seq === before + 1;
    });
    await waitFor('the job acknowledged', async () => {
      return (await relay.admin.jsm.streams.info(STREAMS.jobs)).state.messages === 0;
    });
  } finally {
    silent.unsubscribe();
  }
});

test('a scheduler started later records what the stream holds', async () => {
  scheduler = await runScheduler(relay.env, { handleSignals: false, clock });
  await waitFor('the stream emptied', async () => (await resultsStream()).state.messages === 0);
  const recorded = await metric(scheduler, METRICS.schedulerResults, {
    pool: relay.pool.key,
    path: 'stream',
    repeat: 'false',
  });
  assert.equal(recorded, 2);
  const delivered = relay.eventsOf('delivered').map((e) => e.rcpt);
  for (const rcpt of ['alone@handoff.test', 'unanswered@handoff.test']) {
    assert.ok(delivered.includes(rcpt), `${rcpt} recorded as delivered`);
  }
});
