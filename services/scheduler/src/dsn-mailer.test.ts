import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type BodyStore,
  createBodyStore,
  createLogger,
  ENVELOPE_HEADER,
  envelopeHeader,
  type NatsHandles,
  STREAMS,
  SUBJECTS,
  type WireVersion,
} from '@hikyaku/core';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import { createDsnMailer, DSN_SUBMITTER } from './dsn-mailer.ts';

let infra: TestNats;
let nats: NatsHandles;
let bodies: BodyStore;

before(async () => {
  infra = await startTestNats('dsn-mailer-test');
  nats = infra.nats;
  bodies = await createBodyStore({ js: nats.js, jsm: nats.jsm, replicas: 1, maxAgeMs: 60_000 });
});

after(async () => {
  await infra?.close();
});

const lastSeq = async (stream: string) => (await nats.jsm.streams.info(stream)).state.last_seq;

async function bounce(wireVersion: WireVersion, key: string) {
  const original = Buffer.from('From: <app@sender.test>\r\nSubject: hi\r\n\r\nhello\r\n');
  const id = `orig${wireVersion}`;
  const body = await bodies.put(id, original);
  const mailer = createDsnMailer({
    js: nats.js,
    bodies,
    reportingMta: 'mta.hikyaku.test',
    rng: () => 0.5,
    log: createLogger({ name: 'dsn-mailer-test', level: 'silent' }),
    wireVersion,
  });
  const at = { bodies: await lastSeq(STREAMS.bodies), envelopes: await lastSeq(STREAMS.envelopes) };
  const result = await mailer.send(
    { id, pool: 'local_demo', from: 'app@sender.test', body, receivedAt: 1 },
    [{ recipient: 'gone@example.test', action: 'failed', status: '5.1.1' }],
    key,
    2,
  );
  assert.equal(result, 'sent');
  return {
    bodies: (await lastSeq(STREAMS.bodies)) - at.bodies,
    envelopes: (await lastSeq(STREAMS.envelopes)) - at.envelopes,
  };
}

test('at wire version 2 a DSN is one write: its envelope travels in its body message', async () => {
  assert.deepEqual(await bounce(2, 'job-2/bounced'), { bodies: 1, envelopes: 0 });
  const stored = await nats.jsm.streams.getMessage(STREAMS.bodies, {
    seq: await lastSeq(STREAMS.bodies),
  });
  assert.ok(stored);
  assert.ok(stored.subject.startsWith(SUBJECTS.body('dsn')), stored.subject);
  const envelope = envelopeHeader.decode(stored.header.get(ENVELOPE_HEADER));
  assert.equal(envelope.from, '', 'from the null sender');
  assert.deepEqual(envelope.rcpts, ['app@sender.test']);
  assert.equal(envelope.submitter, DSN_SUBMITTER);
  assert.match(stored.string(), /Final-Recipient: rfc822; gone@example\.test/);
});

test('at wire version 1 a DSN body and its envelope are written apart', async () => {
  assert.deepEqual(await bounce(1, 'job-1/bounced'), { bodies: 1, envelopes: 1 });
});
