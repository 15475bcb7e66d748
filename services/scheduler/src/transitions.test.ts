import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Envelope, Job, RecipientOutcome } from '@hikyaku/core';
import { eventBaseOf, firstItems, itemMsgId, jobFor, retryItem } from './transitions.ts';

const envelope: Envelope = {
  v: 1,
  id: 'q1',
  pool: 'local_demo',
  receivedAt: 1000,
  from: 'app@example.com',
  rcpts: ['a@one.test', 'b@One.test.', 'c@one.test', 'd@two.test'],
  body: { store: 'stream', size: 10, seq: 3 },
  submitter: 'app',
  clientAddress: '127.0.0.1',
  bulk: true,
  messageId: 'm1@example.com',
  dsn: { ret: 'HDRS', envid: 'E1' },
  rcptDsn: [
    { rcpt: 'a@one.test', notify: ['NEVER'] },
    { rcpt: 'd@two.test', notify: ['SUCCESS'], orcpt: 'rfc822;D@two.test' },
  ],
};

test('an envelope becomes one item per domain part, each carrying the whole delivery', () => {
  const items = firstItems(
    envelope,
    ['a@one.test', 'b@One.test.', 'c@one.test', 'd@two.test'],
    (d) => (d === 'one.test' ? 2 : 10),
  );
  assert.deepEqual(
    items.map((i) => [i.delivery.domain, i.delivery.part, i.delivery.rcpts]),
    [
      ['one.test', 0, ['a@one.test', 'b@One.test.']],
      ['one.test', 1, ['c@one.test']],
      ['two.test', undefined, ['d@two.test']],
    ],
  );
  assert.deepEqual(items[2], {
    delivery: {
      id: 'q1',
      pool: 'local_demo',
      domain: 'two.test',
      from: 'app@example.com',
      rcpts: ['d@two.test'],
      body: { store: 'stream', size: 10, seq: 3 },
      receivedAt: 1000,
      bulk: true,
      messageId: 'm1@example.com',
      submitter: 'app',
      dsn: { ret: 'HDRS', envid: 'E1' },
      rcptDsn: [{ rcpt: 'd@two.test', notify: ['SUCCESS'], orcpt: 'rfc822;D@two.test' }],
    },
    attempt: 0,
    notBefore: 1000,
  });
  // Each part carries only its own recipients' DSN parameters.
  assert.deepEqual(items[0]?.delivery.rcptDsn, [{ rcpt: 'a@one.test', notify: ['NEVER'] }]);
  assert.equal(items[1]?.delivery.rcptDsn, undefined);
});

test('recipients left out (suppressed) make no item; plain mail carries no optional field', () => {
  const plain: Envelope = {
    v: 1,
    id: 'q2',
    pool: 'p',
    receivedAt: 5,
    from: '',
    rcpts: ['x@three.test', 'gone@three.test'],
    body: { store: 'object', size: 1 },
  };
  assert.deepEqual(
    firstItems(plain, ['x@three.test'], () => 50),
    [
      {
        delivery: {
          id: 'q2',
          pool: 'p',
          domain: 'three.test',
          from: '',
          rcpts: ['x@three.test'],
          body: { store: 'object', size: 1 },
          receivedAt: 5,
        },
        attempt: 0,
        notBefore: 5,
      },
    ],
  );
  assert.deepEqual(
    firstItems(plain, [], () => 50),
    [],
  );
});

test('a due item becomes a job for the chosen IP, released now', () => {
  const [item] = firstItems(envelope, ['a@one.test', 'c@one.test'], () => 1);
  assert.ok(item);
  const job = jobFor(
    { ...item, attempt: 3, lastIp: '192.0.2.9' },
    { ip: '192.0.2.1', policy: 'gmail' },
    7000,
  );
  assert.deepEqual(job, {
    jobId: 'job:q1:one.test:3',
    delivery: item.delivery,
    attempt: 3,
    ip: '192.0.2.1',
    policy: 'gmail',
    dispatchedAt: 7000,
  });
  const shaped = jobFor(
    item,
    { ip: '192.0.2.1', policy: 'gmail', connections: 2, returnPath: 'b+t@x.test' },
    1,
  );
  assert.equal(shaped.connections, 2);
  assert.equal(shaped.returnPath, 'b+t@x.test');
  assert.equal(itemMsgId(item), 'q:q1:one.test:0');
});

test("a result's deferred recipients become the next attempt, with their last replies", () => {
  const [item] = firstItems(envelope, ['a@one.test', 'b@one.test', 'c@one.test'], () => 10);
  assert.ok(item);
  const job: Job = jobFor(item, { ip: '192.0.2.1', policy: 'default' }, 2000);
  const deferred: RecipientOutcome[] = [
    {
      rcpt: 'a@one.test',
      status: 'deferred',
      code: 451,
      enhanced: '4.7.1',
      text: 'x'.repeat(3000),
      remoteHost: 'mx.one.test',
    },
  ];
  const retry = retryItem(job, deferred, 9000, 2500);
  assert.deepEqual(retry.delivery, {
    ...item.delivery,
    rcpts: ['a@one.test'],
    rcptDsn: [{ rcpt: 'a@one.test', notify: ['NEVER'] }],
  });
  assert.equal(retry.attempt, 1);
  assert.equal(retry.notBefore, 9000);
  assert.equal(retry.lastIp, '192.0.2.1');
  assert.equal(retry.lastReplies?.length, 1);
  assert.equal(retry.lastReplies?.[0]?.at, 2500);
  assert.equal(retry.lastReplies?.[0]?.text.length, 1024, 'reply text bounded');
  // Recipients without DSN parameters drop them from the retry.
  const other = retryItem(
    job,
    [{ ...deferred[0], rcpt: 'b@one.test' } as RecipientOutcome],
    9000,
    2500,
  );
  assert.equal(other.delivery.rcptDsn, undefined);
  assert.deepEqual(other.delivery.dsn, { ret: 'HDRS', envid: 'E1' });
});

test('events say of an item or a job what they said before: ids, attempt, IP of a job', () => {
  const [item] = firstItems(envelope, ['d@two.test'], () => 10);
  assert.ok(item);
  assert.deepEqual(eventBaseOf(item), {
    id: 'q1',
    pool: 'local_demo',
    domain: 'two.test',
    receivedAt: 1000,
    attempt: 0,
    messageId: 'm1@example.com',
  });
  assert.equal(eventBaseOf(jobFor(item, { ip: '192.0.2.1', policy: 'p' }, 1)).ip, '192.0.2.1');
});
