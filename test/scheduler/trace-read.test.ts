/**
 * The trace read from the events stream against a real nats-server: each outcome is stored
 * once, acceptance and planning are not stored and still show, and `hikyaku trace` finds a
 * message by queue id, Message-ID and recipient among many others; traces that earlier
 * versions wrote to HIKYAKU_TRACE stay readable.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  codecs,
  type DeliveryEvent,
  type NatsHandles,
  STREAMS,
  SUBJECTS,
  traceDigest,
} from '@hikyaku/core';
import {
  createEventPublisher,
  deliveryEvent,
  type EventBase,
  type EventPublisher,
  runTraceCli,
} from '@hikyaku/scheduler';
import { startTestNats, type TestNats } from '@hikyaku/testing';

const POOL = 'mail_transactional';
const T0 = Date.parse('2026-12-05T08:00:00.000Z');

let infra: TestNats;
let nats: NatsHandles;
let events: EventPublisher;

before(async () => {
  infra = await startTestNats('trace-read-test');
  nats = infra.nats;
  events = createEventPublisher(nats.js, nats.nc);
});

after(async () => {
  await infra?.close();
});

async function stored(stream: string): Promise<number> {
  return (await nats.jsm.streams.info(stream)).state.messages;
}

async function trace(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTraceCli(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { NATS_URL: infra.server.url },
  });
  return { code, out, err };
}

/** The events the scheduler's stages publish for one message to one domain. */
async function lifeOf(
  id: string,
  rcpts: string[],
  outcomes: DeliveryEvent['type'][],
  messageId?: string,
): Promise<void> {
  const envelope: EventBase = {
    id,
    pool: POOL,
    receivedAt: T0,
    ...(messageId ? { messageId } : {}),
  };
  await events.publish(rcpts.map((r) => deliveryEvent('accepted', envelope, r, T0)));
  const job = { ...envelope, domain: 'example.test', ip: '127.0.0.3', attempt: 0 };
  await events.publish(rcpts.map((r) => deliveryEvent('scheduled', job, r, T0 + 10)));
  await events.publish(
    rcpts.map((r, i) =>
      deliveryEvent(
        outcomes[i] ?? 'delivered',
        { ...job, dispatchedAt: T0 + 10 },
        r,
        T0 + 500,
        outcomes[i] === 'deferred'
          ? { code: 451, text: '4.2.0 Busy', remoteHost: 'mx.example.test' }
          : { code: 250, text: '2.0.0 Ok', remoteHost: 'mx.example.test' },
        'TLSv1.3',
      ),
    ),
  );
}

test('one stored event per outcome; acceptance and planning are read from it', async () => {
  const before = await stored(STREAMS.events);
  const traceBefore = await stored(STREAMS.trace);
  await lifeOf(
    'QA1',
    ['ann@example.test', 'bob@example.test'],
    ['delivered', 'deferred'],
    'a1@app.test',
  );
  assert.equal((await stored(STREAMS.events)) - before, 2, 'only the two outcomes are stored');
  assert.equal(
    await stored(STREAMS.trace),
    traceBefore,
    'nothing goes to the earlier trace stream',
  );

  const { code, out, err } = await trace('QA1');
  assert.equal(code, 0, err.join('\n'));
  assert.equal(out[0], 'queue id QA1  pool mail_transactional  Message-ID <a1@app.test>');
  assert.deepEqual(out.slice(1), [
    '  2026-12-05T08:00:00.000Z  accepted    ann@example.test',
    '  2026-12-05T08:00:00.000Z  accepted    bob@example.test',
    '  2026-12-05T08:00:00.010Z  planned     ann@example.test  attempt 1  from 127.0.0.3',
    '  2026-12-05T08:00:00.010Z  planned     bob@example.test  attempt 1  from 127.0.0.3',
    '  2026-12-05T08:00:00.500Z  delivered   ann@example.test  attempt 1  from 127.0.0.3  to mx.example.test  TLSv1.3: 250 2.0.0 Ok',
    '  2026-12-05T08:00:00.500Z  deferred    bob@example.test  attempt 1  from 127.0.0.3  to mx.example.test  TLSv1.3: 451 4.2.0 Busy',
  ]);
});

test('a suppressed message shows its acceptance and its end without a stored acceptance', async () => {
  const envelope: EventBase = { id: 'QS1', pool: POOL, receivedAt: T0 };
  await events.publish([
    deliveryEvent('accepted', envelope, 'gone@example.test', T0 + 5),
    deliveryEvent('suppressed', envelope, 'gone@example.test', T0 + 5, {
      code: 550,
      enhanced: '5.1.1',
      text: '5.1.1 Recipient is on the suppression list (bounce)',
    }),
  ]);
  const { code, out } = await trace('gone@example.test');
  assert.equal(code, 0);
  assert.deepEqual(out, [
    'queue id QS1  pool mail_transactional',
    '  2026-12-05T08:00:00.000Z  accepted    gone@example.test',
    '  2026-12-05T08:00:00.005Z  suppressed  gone@example.test: 550 5.1.1 Recipient is on the suppression list (bounce)',
  ]);
});

test('finds one message by queue id, Message-ID and recipient among many', async () => {
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 600; i++) {
    writes.push(lifeOf(`QN${i}`, [`n${i}@example.test`], ['delivered'], `n${i}@app.test`));
  }
  await Promise.all(writes);
  await lifeOf('QB1', ['carol@example.test'], ['bounced'], 'b1@app.test');
  await lifeOf('QB2', ['carol@example.test'], ['delivered'], 'b2@app.test');

  for (const key of ['QB1', 'b1@app.test', '<b1@app.test>']) {
    const { code, out } = await trace(key);
    assert.equal(code, 0, key);
    assert.equal(out.length, 4, `${key}: ${out.join('\n')}`);
    assert.match(out[0] as string, /^queue id QB1 .*Message-ID <b1@app\.test>$/, key);
    assert.match(out[3] as string, /bounced\s+carol@example\.test {2}attempt 1/, key);
  }
  // A recipient names every message to it, with that recipient's lines only.
  const byRcpt = await trace('Carol@Example.test');
  assert.equal(byRcpt.code, 0);
  assert.deepEqual(
    byRcpt.out.filter((l) => l.startsWith('queue id')).map((l) => l.split('  ')[0]),
    ['queue id QB1', 'queue id QB2'],
  );
  const json = await trace('--json', 'QB2');
  const types = json.out.map((l) => (JSON.parse(l) as DeliveryEvent).type);
  assert.deepEqual(types, ['accepted', 'scheduled', 'delivered']);

  // A recipient's events only, of a message to two (read from the recipient's subjects).
  const bob = (await trace('--json', 'bob@example.test')).out.map(
    (l) => JSON.parse(l) as DeliveryEvent,
  );
  assert.deepEqual(
    bob.map((e) => `${e.type} ${e.rcpt}`),
    ['accepted bob@example.test', 'scheduled bob@example.test', 'deferred bob@example.test'],
  );

  const none = await trace('nobody@example.test');
  assert.equal(none.code, 1);
});

test('traces written to HIKYAKU_TRACE by earlier versions stay readable', async () => {
  const old = (type: DeliveryEvent['type'], at: number, extra: Partial<DeliveryEvent> = {}) =>
    codecs.event.encode({
      v: 1,
      type,
      id: 'QO1',
      pool: POOL,
      rcpt: 'dora@example.test',
      at,
      messageId: 'o1@app.test',
      ...extra,
    });
  const index = codecs.traceIndex.encode({ v: 1, id: 'QO1', pool: POOL, at: T0 });
  await nats.js.publish(SUBJECTS.traceMessage('QO1'), old('accepted', T0));
  await nats.js.publish(
    SUBJECTS.traceMessage('QO1'),
    old('scheduled', T0 + 10, { ip: '127.0.0.2', attempt: 0 }),
  );
  await nats.js.publish(SUBJECTS.traceIndex('mid', traceDigest('mid', 'o1@app.test')), index);
  await nats.js.publish(
    SUBJECTS.traceIndex('rcpt', traceDigest('rcpt', 'dora@example.test')),
    index,
  );
  await nats.js.publish(
    SUBJECTS.traceMessage('QO1'),
    old('deferred', T0 + 100, { ip: '127.0.0.2', attempt: 0, reply: { code: 451, text: 'later' } }),
  );
  // Its next attempt came after the upgrade: one keyed event, whose planning the earlier
  // stored `scheduled` of that attempt does not hide.
  await events.publish([
    deliveryEvent(
      'delivered',
      {
        id: 'QO1',
        pool: POOL,
        receivedAt: T0,
        messageId: 'o1@app.test',
        ip: '127.0.0.3',
        attempt: 1,
        dispatchedAt: T0 + 60_000,
      },
      'dora@example.test',
      T0 + 60_100,
      { code: 250, text: 'Ok' },
    ),
  ]);
  for (const key of ['QO1', 'o1@app.test', 'dora@example.test']) {
    const { code, out } = await trace(key);
    assert.equal(code, 0, key);
    assert.deepEqual(
      out.slice(1).map((l) => l.trim().split(/\s+/).slice(1, 3).join(' ')),
      [
        'accepted dora@example.test',
        'planned dora@example.test',
        'deferred dora@example.test',
        'planned dora@example.test',
        'delivered dora@example.test',
      ],
      key,
    );
  }
});
