/**
 * One stored write per message, through the whole relay (ingress, scheduler and sender as
 * processes): an ingress at wire version 2 stores an inline body with its envelope in one
 * message of the bodies stream, an ingress at 1 stores body and envelope apart, and the
 * scheduler of this release delivers the mail of both, each message once — also mail both
 * kinds stored while the scheduler was down, before its consumer of the bodies stream
 * existed. A body stored without an envelope is passed over; one with an envelope header no
 * stage can read is dropped with an error, not retried for ever.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type BodyStore,
  CONSUMERS,
  connectNats,
  createBodyStore,
  ENVELOPE_HEADER,
  type NatsHandles,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import { type ServiceProcess, serviceProcess } from '@hikyaku/local';
import { runStatusCli } from '@hikyaku/scheduler';
import { freePort, waitFor } from '@hikyaku/testing';
import { headers } from '@nats-io/transport-node';
import { createTransport } from 'nodemailer';
import { type RelayFixture, rawMessage, startRelayFixture } from '../harness/relay.ts';

const FROM = 'app@hikyaku.test';
const PER_RUN = 8;
let relay: RelayFixture;
let admin: NatsHandles;
let bodies: BodyStore;
/** A second ingress on the same relay, still at wire version 1 (a pod not yet upgraded). */
let olderIngress: ServiceProcess;
let olderPort: number;
const lines: { name: string; line: string }[] = [];

before(async () => {
  relay = await startRelayFixture({
    env: { HIKYAKU_WIRE_VERSION: '2' },
    onOutput: (name, line) => lines.push({ name, line }),
  });
  admin = await connectNats({ url: relay.stack.natsUrl, name: 'one-write-test' });
  bodies = await createBodyStore({
    js: admin.js,
    jsm: admin.jsm,
    replicas: 1,
    maxAgeMs: 86_400_000,
  });
  olderPort = await freePort();
  olderIngress = serviceProcess({
    name: 'ingress-v1',
    command: 'ingress',
    env: {
      NATS_URL: relay.stack.natsUrl,
      REDIS_URL: relay.stack.redisUrl,
      HIKYAKU_POOL: relay.stack.pool.key,
      HIKYAKU_SMTP_HOST: relay.stack.smtpHost,
      HIKYAKU_SMTP_PORT: String(olderPort),
      HIKYAKU_WIRE_VERSION: '1',
      HIKYAKU_LOG_LEVEL: 'warn',
    },
    opsPort: await freePort(),
    onOutput: (name, line) => lines.push({ name, line }),
  });
  await olderIngress.start();
});

after(async () => {
  await olderIngress?.stop();
  await admin?.nc.close();
  await relay?.stop();
});

const markerOf = (raw: Buffer): string | undefined =>
  /^Subject: test (\S+)/m.exec(raw.toString('latin1'))?.[1];
const copies = (marker: string): number =>
  relay.sink.messages.filter((m) => markerOf(m.raw) === marker).length;
const lastSeq = async (stream: string): Promise<number> =>
  (await admin.jsm.streams.info(stream)).state.last_seq;

/**
 * Sends one message per marker through the ingress on `port`; every one must get its 250.
 * Returns the queue ids.
 */
async function send(port: number, markers: string[]): Promise<string[]> {
  const client = createTransport({
    host: relay.stack.smtpHost,
    port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: 4,
  });
  try {
    return await Promise.all(
      markers.map(async (marker) => {
        const to = `${marker}@example.test`;
        const info = await client.sendMail({
          envelope: { from: FROM, to: [to] },
          raw: rawMessage({ from: FROM, to, marker }),
        });
        const id = /^250 .*queued as (\S+)/.exec(info.response)?.[1];
        assert.ok(id, info.response);
        return id;
      }),
    );
  } finally {
    client.close();
  }
}

const markers = (prefix: string): string[] =>
  Array.from({ length: PER_RUN }, (_, i) => `${prefix}-${i}`);

async function deliveredOnce(what: string, sent: string[]): Promise<void> {
  await waitFor(what, () => sent.every((m) => copies(m) >= 1));
  assert.deepEqual(
    sent.filter((m) => copies(m) !== 1),
    [],
    'every message arrived exactly once',
  );
}

test('at wire version 2 each message is one write to the bodies stream and none to the envelopes stream', async () => {
  const bodiesBefore = await lastSeq(STREAMS.bodies);
  // The jobs, as written (mail due at once leaves the envelope stage as a job): their body
  // refs name the stream sequence of each message. Wire version 1 jobs are flat.
  const jobs = admin.nc.subscribe(SUBJECTS.jobAll);
  const seqs: number[] = [];
  (async () => {
    for await (const m of jobs) {
      const job = JSON.parse(Buffer.from(m.data).toString('utf8'));
      seqs.push((job.delivery ?? job).body.seq);
    }
  })().catch(() => undefined);
  const sent = markers('v2');
  const ids = await send(relay.stack.smtpPort, sent);
  await deliveredOnce('the messages of the ingress at 2 delivered', sent);
  assert.equal(await lastSeq(STREAMS.envelopes), 0, 'no envelope was written on its own');
  assert.equal(await lastSeq(STREAMS.bodies), bodiesBefore + PER_RUN, 'one write per message');
  jobs.unsubscribe();
  assert.deepEqual(
    seqs.sort((a, b) => a - b),
    Array.from({ length: PER_RUN }, (_, i) => bodiesBefore + 1 + i),
    'each body ref is the sequence of the message that carried body and envelope',
  );
  await waitFor('every delivered body removed', async () => {
    const left = await Promise.all(
      ids.map((id) =>
        admin.jsm.streams.getMessage(STREAMS.bodies, { last_by_subj: SUBJECTS.body(id) }),
      ),
    );
    return left.every((m) => m === null);
  });
});

test('at wire version 1 body and envelope are written apart, and delivered', async () => {
  const bodiesBefore = await lastSeq(STREAMS.bodies);
  const envelopesBefore = await lastSeq(STREAMS.envelopes);
  const sent = markers('v1');
  await send(olderPort, sent);
  await deliveredOnce('the messages of the ingress at 1 delivered', sent);
  assert.equal(await lastSeq(STREAMS.envelopes), envelopesBefore + PER_RUN);
  assert.equal(await lastSeq(STREAMS.bodies), bodiesBefore + PER_RUN);
});

test('hikyaku status counts the mail stored with its envelope while no scheduler splits it, once for all pools', async () => {
  const scheduler = relay.stack.services.scheduler;
  await scheduler.stop();
  const sent = markers('held-v2');
  await send(relay.stack.smtpPort, sent);
  const status = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runStatusCli(argv, {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      env: { NATS_URL: relay.stack.natsUrl, REDIS_URL: relay.stack.redisUrl },
    });
    assert.equal(code, 0, err.join('\n'));
    return out;
  };
  const json = (await status('--json')).map((l) => JSON.parse(l) as Record<string, unknown>);
  // The fixture's relay was set up by this release: wire version 2.
  assert.deepEqual(json.at(-1), { allPools: { envelopesInBodies: PER_RUN, wireVersion: 2 } });
  assert.deepEqual(json[0]?.queue, { envelopes: 0, items: 0, jobs: 0, results: 0 });
  const text = await status();
  assert.equal(text.filter((l) => l.startsWith('all pools:')).length, 1);
  assert.match(text.join('\n'), new RegExp(`^all pools: ${PER_RUN} accepted to split`, 'm'));
  assert.equal(text.at(-1), 'wire version 2 (hikyaku wire-version)');
  await scheduler.start();
  await deliveredOnce('the held mail delivered', sent);
});

test('mail of both forms stored before the consumer of the bodies stream existed is delivered once', async () => {
  const scheduler = relay.stack.services.scheduler;
  await scheduler.stop();
  // As before the first start of a scheduler that reads envelopes from the bodies stream.
  await admin.jsm.consumers.delete(STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes);
  const newer = markers('mixed-v2');
  const older = markers('mixed-v1');
  await Promise.all([send(relay.stack.smtpPort, newer), send(olderPort, older)]);
  assert.equal(
    (await admin.jsm.streams.info(STREAMS.envelopes)).state.messages,
    PER_RUN,
    'the envelopes of the ingress at 1 wait in their stream',
  );
  await scheduler.start();
  await deliveredOnce('the mail of both ingresses delivered', [...newer, ...older]);
});

test('a body stored without an envelope header is acknowledged and left alone', async () => {
  const id = `bare${Date.now()}`;
  const ref = await bodies.put(id, rawMessage({ from: FROM, to: 'x@example.test', marker: id }));
  const seq = ref.seq as number;
  await waitFor('the scheduler passed the bare body', async () => {
    const info = await admin.jsm.consumers.info(STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes);
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
  });
  assert.ok(await bodies.get(id, ref), 'the body is still there for whoever stored it');
  assert.equal(copies(id), 0);
  assert.ok(!relay.events.some((e) => e.id === id), 'no event for it');
  assert.ok(
    !lines.some((l) => l.name === 'scheduler' && /malformed/.test(l.line)),
    'nothing was logged as malformed',
  );
  await bodies.remove(id, ref);
});

test('a body whose envelope header cannot be read is acknowledged with an error logged', async () => {
  const id = `broken${Date.now()}`;
  const h = headers();
  h.set(ENVELOPE_HEADER, '{"v":1,"id":"half an envelope"');
  const ack = await admin.js.publish(SUBJECTS.body(id), Buffer.from('body'), { headers: h });
  await waitFor('the scheduler dropped it with an error', async () => {
    const info = await admin.jsm.consumers.info(STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes);
    return (
      info.ack_floor.stream_seq >= ack.seq &&
      lines.some(
        (l) =>
          l.name === 'scheduler' && l.line.includes('dropping malformed') && l.line.includes(id),
      )
    );
  });
  await admin.jsm.streams.deleteMessage(STREAMS.bodies, ack.seq);
});
