import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SchemaError } from '../errors.ts';
import { codecs, ENVID_MAX, type Envelope, envelopeHeader, ORCPT_MAX } from './messages.ts';
import { ipToken, MSG_IDS, parseEventSubject, poolKey, SUBJECTS } from './subjects.ts';
import { isQueueId, NO_DIGEST, traceDigest } from './trace.ts';

test('an envelope survives encode/decode; a malformed one is refused with the field named', () => {
  const envelope: Envelope = {
    v: 1,
    id: 'abc',
    pool: 'local_demo',
    receivedAt: 1,
    from: '',
    rcpts: ['a@example.test'],
    body: { store: 'stream', size: 10 },
  };
  assert.deepEqual(codecs.envelope.decode(codecs.envelope.encode(envelope)), envelope);
  const broken = Buffer.from(JSON.stringify({ ...envelope, rcpts: [] }));
  assert.throws(
    () => codecs.envelope.decode(broken),
    (err: unknown) => {
      assert.ok(err instanceof SchemaError);
      assert.match(err.message, /\/rcpts/);
      return true;
    },
  );
  assert.throws(() => codecs.job.decode(Buffer.from('{not json')), SchemaError);
});

test('an envelope as a header value is one line of printable ASCII and decodes back whole', () => {
  const envelope: Envelope = {
    v: 1,
    id: 'abc',
    pool: 'local_demo',
    receivedAt: 1,
    // SMTPUTF8 addresses, a character outside the BMP, a DEL and a line break in a field.
    from: 'jos\u00e9@exämple.test',
    rcpts: ['用户@例子.test', 'emoji\u{1f600}@example.test'],
    body: { store: 'stream', size: 10 },
    messageId: 'a\r\nb\u007f',
  };
  const value = envelopeHeader.encode(envelope);
  assert.match(value, /^[\x20-\x7e]+$/);
  assert.deepEqual(envelopeHeader.decode(value), envelope);
  assert.throws(() => envelopeHeader.decode('{"v":1}'), SchemaError);
  assert.throws(() => envelopeHeader.decode('{"v":1'), /envelope.*not JSON/s);
});

test('DSN parameters travel on an envelope, bounded in size and in their values', () => {
  const envelope: Envelope = {
    v: 1,
    id: 'dsn1',
    pool: 'local_demo',
    receivedAt: 1,
    from: 'app@example.test',
    rcpts: ['a@example.test', 'b@example.test'],
    body: { store: 'stream', size: 10 },
    dsn: { ret: 'HDRS', envid: 'QQ314159' },
    rcptDsn: [
      { rcpt: 'a@example.test', notify: ['NEVER'] },
      { rcpt: 'b@example.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;B@example.test' },
    ],
  };
  assert.deepEqual(codecs.envelope.decode(codecs.envelope.encode(envelope)), envelope);
  const refused = (change: Record<string, unknown>, field: RegExp) =>
    assert.throws(
      () => codecs.envelope.decode(Buffer.from(JSON.stringify({ ...envelope, ...change }))),
      (err: unknown) => err instanceof SchemaError && field.test(err.message),
    );
  refused({ dsn: { envid: 'x'.repeat(ENVID_MAX + 1) } }, /\/dsn\/envid/);
  refused({ dsn: { ret: 'BODY' } }, /\/dsn\/ret/);
  refused({ rcptDsn: [{ rcpt: 'a@example.test', notify: ['SOMETIMES'] }] }, /\/rcptDsn\/0/);
  refused({ rcptDsn: [{ rcpt: 'a@example.test', notify: ['DELAY', 'DELAY'] }] }, /\/rcptDsn\/0/);
  refused({ rcptDsn: [{ rcpt: 'a@example.test', orcpt: 'x'.repeat(ORCPT_MAX + 1) }] }, /orcpt/);
});

test('subjects are built from tokens that cannot break a subject', () => {
  assert.equal(poolKey('mail', 'tx.pool'), 'mail_tx-pool');
  assert.equal(ipToken('2001:db8::1'), '2001-db8--1');
  assert.equal(SUBJECTS.job('mail_tx', '203.0.113.10'), 'hikyaku.job.mail_tx.203-0-113-10');
  assert.equal(MSG_IDS.queueItem('m1', 'example.com', 2), 'q:m1:example.com:2');
});

test('trace subjects: a queue id is one token, Message-IDs and addresses enter only as digests', () => {
  assert.equal(SUBJECTS.traceMessage('Abc123'), 'hikyaku.trace.msg.Abc123');
  assert.ok(isQueueId('x3D38exyVbS2BgWdxVUrsC'));
  assert.ok(!isQueueId('a.b') && !isQueueId('a@b.test') && !isQueueId('>'));
  assert.equal(traceDigest('mid', '<id@app.test>'), traceDigest('mid', ' id@app.test '));
  assert.equal(traceDigest('rcpt', 'Ann@Example.com'), traceDigest('rcpt', 'ann@example.com'));
  assert.match(traceDigest('rcpt', 'ann@example.com'), /^[0-9a-f]{32}$/);
  // SHA-256 of the normal form, hex, its first 128 bits: stored subjects depend on it.
  assert.equal(traceDigest('rcpt', ' Ann@Example.com'), '71d4f55f72fa128dfb468a1a3901507c');
  assert.equal(traceDigest('mid', '<id@app.test>'), 'bb705914038c9c1e26812fc304f31b3e');
  assert.ok(!SUBJECTS.traceIndex('rcpt', traceDigest('rcpt', 'ann@example.com')).includes('ann'));
});

test('a keyed event subject: pool, queue id and digests as tokens, the type last', () => {
  const rcpt = traceDigest('rcpt', 'ann@example.com');
  const subject = SUBJECTS.deliveryEvent('mail_tx', 'Q1', rcpt, NO_DIGEST, 'delivered');
  assert.equal(subject, `hikyaku.event.mail_tx.Q1.${rcpt}._.delivered`);
  assert.deepEqual(parseEventSubject(subject), {
    kind: 'delivery',
    pool: 'mail_tx',
    type: 'delivered',
  });
  assert.deepEqual(parseEventSubject(SUBJECTS.event('mail_tx', 'bounced')), {
    kind: 'delivery',
    pool: 'mail_tx',
    type: 'bounced',
  });
  assert.deepEqual(parseEventSubject(SUBJECTS.queueAction('mail_tx', 'flushed')), {
    kind: 'queue action',
    pool: 'mail_tx',
    type: 'flushed',
  });
  assert.equal(parseEventSubject('hikyaku.job.mail_tx.1-2-3-4'), undefined);
  // Each trace filter puts its key where the subject holds it.
  const tokens = subject.split('.');
  for (const [filter, at] of [
    [SUBJECTS.eventsOfQueueId('Q1'), 3],
    [SUBJECTS.eventsOfRecipient(rcpt), 4],
    [SUBJECTS.eventsOfMessageId(NO_DIGEST), 5],
    [SUBJECTS.deliveryEventsOfType('mail_tx', 'delivered'), 6],
  ] as const) {
    const parts = filter.split('.');
    assert.equal(parts.length, tokens.length, filter);
    assert.ok(
      parts.every((p, i) => p === '*' || p === tokens[i]),
      filter,
    );
    assert.equal(parts[at], tokens[at], filter);
  }
});

test('an event of the first version still decodes; the fields added since are optional', () => {
  const old = { v: 1, type: 'delivered', id: 'Q', pool: 'p', rcpt: 'a@b.test', at: 1 };
  assert.deepEqual(codecs.event.decode(Buffer.from(JSON.stringify(old))), old);
  const entry = { v: 1 as const, id: 'Q', pool: 'p', at: 1 };
  assert.deepEqual(codecs.traceIndex.decode(codecs.traceIndex.encode(entry)), entry);
});
