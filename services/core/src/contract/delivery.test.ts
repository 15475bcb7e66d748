import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SchemaError, WireVersionError } from '../errors.ts';
import type { Delivery, Job, JobResult, QueueItem } from './delivery.ts';
import { codecs } from './messages.ts';

const delivery: Delivery = {
  id: 'q1',
  pool: 'local_demo',
  domain: 'example.org',
  from: 'app@example.com',
  rcpts: ['a@example.org', 'b@example.org'],
  body: { store: 'stream', size: 10, seq: 4 },
  receivedAt: 1000,
  part: 1,
  bulk: true,
  messageId: 'm1@example.com',
  submitter: 'app',
  dsn: { ret: 'HDRS', envid: 'E1' },
  rcptDsn: [{ rcpt: 'a@example.org', notify: ['FAILURE'] }],
};

const item: QueueItem = {
  delivery,
  attempt: 2,
  notBefore: 5000,
  lastIp: '192.0.2.1',
  lastReplies: [{ rcpt: 'a@example.org', code: 451, text: '4.7.1 later', at: 4000 }],
};

const job: Job = {
  jobId: 'job:q1:example.org:2:1',
  delivery,
  attempt: 2,
  ip: '192.0.2.2',
  policy: 'default',
  returnPath: 'b+token@bounce.example.com',
  dispatchedAt: 6000,
  connections: 2,
};

const result: JobResult = {
  job,
  outcomes: [{ rcpt: 'a@example.org', status: 'delivered', code: 250, text: '2.0.0 Ok' }],
  startedAt: 6001,
  finishedAt: 6002,
  tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
};

const wire = (data: Uint8Array): Record<string, unknown> =>
  JSON.parse(Buffer.from(data).toString('utf8'));
const bytes = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));

/** A queue item exactly as the previous release wrote it: every field flat. */
const flatItem = {
  v: 1,
  ...delivery,
  attempt: 2,
  notBefore: 5000,
  lastIp: '192.0.2.1',
  lastReplies: item.lastReplies,
};
const flatJob = {
  v: 1,
  jobId: job.jobId,
  ...delivery,
  ip: job.ip,
  policy: job.policy,
  attempt: 2,
  returnPath: job.returnPath,
  dispatchedAt: 6000,
  connections: 2,
};

test('v1, the default, writes what the previous release wrote, and reads back whole', () => {
  assert.deepEqual(wire(codecs.queueItem.encode(item)), flatItem);
  assert.deepEqual(wire(codecs.job.encode(job)), flatJob);
  assert.deepEqual(wire(codecs.result.encode(result, 1)).job, flatJob);
  assert.deepEqual(codecs.queueItem.decode(codecs.queueItem.encode(item, 1)), item);
  assert.deepEqual(codecs.job.decode(codecs.job.encode(job, 1)), job);
  assert.deepEqual(codecs.result.decode(codecs.result.encode(result, 1)), result);
});

test('v2 nests the delivery and reads back whole', () => {
  const written = wire(codecs.queueItem.encode(item, 2));
  assert.equal(written.v, 2);
  assert.deepEqual(written.delivery, delivery);
  assert.equal(written.id, undefined, 'no delivery field is repeated flat');
  assert.deepEqual(wire(codecs.job.encode(job, 2)).delivery, delivery);
  assert.deepEqual(codecs.queueItem.decode(codecs.queueItem.encode(item, 2)), item);
  assert.deepEqual(codecs.job.decode(codecs.job.encode(job, 2)), job);
  assert.deepEqual(codecs.result.decode(codecs.result.encode(result, 2)), result);
});

test('a flat v1 record with only the required fields reads as a delivery without extras', () => {
  const minimal = {
    v: 1,
    id: 'q2',
    pool: 'local_demo',
    domain: 'example.org',
    from: '',
    rcpts: ['a@example.org'],
    body: { store: 'object', size: 3 },
    receivedAt: 1,
    attempt: 0,
    notBefore: 1,
  };
  assert.deepEqual(codecs.queueItem.decode(bytes(minimal)), {
    delivery: {
      id: 'q2',
      pool: 'local_demo',
      domain: 'example.org',
      from: '',
      rcpts: ['a@example.org'],
      body: { store: 'object', size: 3 },
      receivedAt: 1,
    },
    attempt: 0,
    notBefore: 1,
  });
});

test('a newer wire version is a WireVersionError, not a malformed message', () => {
  for (const codec of [codecs.queueItem, codecs.job, codecs.result]) {
    assert.throws(
      () => codec.decode(bytes({ v: 3, anything: 'a later release may write' })),
      (err: unknown) =>
        err instanceof WireVersionError &&
        err.code === 'HIKYAKU_WIRE_VERSION_NEWER' &&
        err.version === 3,
    );
  }
});

test('each version is checked against its own schema, the delivery part included', () => {
  const refused = (value: unknown, field: RegExp) =>
    assert.throws(
      () => codecs.queueItem.decode(bytes(value)),
      (err: unknown) => err instanceof SchemaError && field.test(err.message),
    );
  refused({ ...flatItem, rcpts: [] }, /\/rcpts/);
  refused(
    { v: 2, delivery: { ...delivery, rcpts: [] }, attempt: 0, notBefore: 0 },
    /\/delivery\/rcpts/,
  );
  refused({ v: 2, ...delivery, attempt: 0, notBefore: 0 }, /delivery/);
  refused({ ...flatItem, v: 0 }, /\/v/);
  refused({ ...flatItem, v: undefined }, /v/);
  assert.throws(() => codecs.job.decode(bytes({ v: 2, jobId: 'j', delivery })), SchemaError);
});
