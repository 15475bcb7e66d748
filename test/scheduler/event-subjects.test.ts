/**
 * The stored events of a message against a real nats-server: each is stored under its own
 * recipient's digest and its message's Message-ID digest (taken once per publish, so the
 * events of two messages in one call must not share one), an empty list stores nothing,
 * and an event's JSON keeps its field order.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type DeliveryEvent,
  type NatsHandles,
  NO_DIGEST,
  STREAMS,
  SUBJECTS,
  traceDigest,
} from '@hikyaku/core';
import {
  createEventPublisher,
  deliveryEvent,
  type EventBase,
  type EventPublisher,
} from '@hikyaku/scheduler';
import { startTestNats, type TestNats } from '@hikyaku/testing';

const POOL = 'mail_transactional';
const T0 = Date.parse('2026-12-05T08:00:00.000Z');

let infra: TestNats;
let nats: NatsHandles;
let events: EventPublisher;

before(async () => {
  infra = await startTestNats('event-subjects-test');
  nats = infra.nats;
  events = createEventPublisher(nats.js, nats.nc);
});

after(async () => {
  await infra?.close();
});

/** The stored subjects of a queue id's events, with their counts. */
async function storedSubjects(id: string): Promise<Record<string, number>> {
  const info = await nats.jsm.streams.info(STREAMS.events, {
    subjects_filter: SUBJECTS.eventsOfQueueId(id),
  });
  return info.state.subjects ?? {};
}

function expectedSubject(event: DeliveryEvent): string {
  return SUBJECTS.deliveryEvent(
    event.pool,
    event.id,
    traceDigest('rcpt', event.rcpt),
    event.messageId ? traceDigest('mid', event.messageId) : NO_DIGEST,
    event.type,
  );
}

function baseOf(id: string, messageId?: string): EventBase {
  return {
    id,
    pool: POOL,
    domain: 'example.test',
    receivedAt: T0,
    attempt: 0,
    ip: '127.0.0.3',
    ...(messageId ? { messageId } : {}),
  };
}

test('every event of a result is stored under its own recipient and its Message-ID', async () => {
  const rcpts = ['Ann@example.test', 'bob@example.test', 'carol@example.test'];
  const base = baseOf('EvSubj1', '<one@app.test>');
  const out = rcpts.map((rcpt) => deliveryEvent('delivered', base, rcpt, T0 + 500));
  assert.equal(await events.publish(out), false);
  const subjects = await storedSubjects('EvSubj1');
  assert.deepEqual(
    Object.keys(subjects).sort(),
    out.map(expectedSubject).sort(),
    'one subject per recipient, each with the message digest',
  );
  assert.equal(new Set(Object.keys(subjects)).size, 3);
});

test('events of two messages in one call keep their own Message-ID digests', async () => {
  const first = baseOf('EvSubj2', '<first@app.test>');
  const second = baseOf('EvSubj3', '<second@app.test>');
  const none = baseOf('EvSubj4');
  const out = [
    deliveryEvent('bounced', first, 'a@example.test', T0 + 1),
    deliveryEvent('bounced', second, 'a@example.test', T0 + 2),
    deliveryEvent('bounced', none, 'a@example.test', T0 + 3),
    deliveryEvent('bounced', first, 'b@example.test', T0 + 4),
  ];
  await events.publish(out);
  const stored = {
    ...(await storedSubjects('EvSubj2')),
    ...(await storedSubjects('EvSubj3')),
    ...(await storedSubjects('EvSubj4')),
  };
  assert.deepEqual(Object.keys(stored).sort(), out.map(expectedSubject).sort());
  assert.ok(
    Object.keys(await storedSubjects('EvSubj4')).every((s) => s.includes(`.${NO_DIGEST}.`)),
  );
});

test('an empty list stores nothing and reads as no repeat', async () => {
  const before = (await nats.jsm.streams.info(STREAMS.events)).state.messages;
  assert.equal(await events.publish([]), false);
  await events.storeAcceptance([]);
  assert.equal((await nats.jsm.streams.info(STREAMS.events)).state.messages, before);
});

test("an event's JSON keeps its field order, optional fields only when set", () => {
  const full = deliveryEvent(
    'deferred',
    { ...baseOf('EvSubj5', 'm@app.test'), dispatchedAt: T0 + 10 },
    'a@example.test',
    T0 + 500,
    {
      code: 451,
      text: '451 4.7.1 Try later',
      enhanced: '4.7.1',
      remoteHost: 'mx.example.test',
      remoteAddress: '127.0.0.9',
    },
    'TLSv1.3',
  );
  assert.equal(
    JSON.stringify(full),
    '{"v":1,"type":"deferred","id":"EvSubj5","pool":"mail_transactional","rcpt":"a@example.test",' +
      `"at":${T0 + 500},"ip":"127.0.0.3","attempt":0,"reply":{"code":451,"text":"451 4.7.1 Try later",` +
      '"enhanced":"4.7.1","remoteHost":"mx.example.test","remoteAddress":"127.0.0.9"},' +
      '"messageId":"m@app.test","domain":"example.test","tls":"TLSv1.3","delayMs":500,' +
      `"plannedAt":${T0 + 10}}`,
  );
  const bare = deliveryEvent('accepted', { id: 'EvSubj6', pool: POOL }, 'a@example.test', T0, {
    code: 250,
    text: 'ok',
  });
  assert.equal(
    JSON.stringify(bare),
    `{"v":1,"type":"accepted","id":"EvSubj6","pool":"mail_transactional","rcpt":"a@example.test","at":${T0},"reply":{"code":250,"text":"ok"}}`,
  );
});
