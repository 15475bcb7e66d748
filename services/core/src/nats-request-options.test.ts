import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import { StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { errors, headers } from '@nats-io/nats-core';
import { NatsConnectionImpl } from '@nats-io/nats-core/internal';
import type { NatsHandles } from './nats.ts';
import { checkNatsRequestOptions, optionFieldsRead } from './nats-request-options.ts';

const SHAPE = ['timeout', 'headers', 'noMux', 'reply', 'traceDestination', 'traceOnly'];
const ORIGINAL_REQUEST = Symbol.for('hikyaku.natsRequest');

type Request = (subject: string, data?: unknown, opts?: Record<string, unknown>) => unknown;

let infra: TestNats;
let nats: NatsHandles;

before(async () => {
  infra = await startTestNats('request-options-test', { streams: false, maxReconnectAttempts: 0 });
  nats = infra.nats;
});

after(async () => {
  await infra?.close();
});

/** Runs `work` while recording the options every request hands to the library's `request`. */
async function recordingOptions(work: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const proto = NatsConnectionImpl.prototype as unknown as Record<symbol, Request>;
  const original = proto[ORIGINAL_REQUEST];
  assert.equal(typeof original, 'function', 'connectNats installs the one-shape request');
  const seen: Record<string, unknown>[] = [];
  proto[ORIGINAL_REQUEST] = function recorded(this: unknown, subject, data, opts) {
    seen.push({ ...opts });
    assert.deepEqual(Object.keys(opts ?? {}), SHAPE, `options of a request to ${subject}`);
    return (original as Request).call(this, subject, data, opts);
  };
  try {
    await work();
  } finally {
    proto[ORIGINAL_REQUEST] = original as Request;
  }
  return seen;
}

test('the installed client reads the request options that are copied, no others', () => {
  assert.doesNotThrow(() => checkNatsRequestOptions());
});

test('the option fields a request implementation reads are found, however it reads them', () => {
  function request(this: unknown, opts: Record<string, unknown>) {
    // opts.commented is not read
    const { headers: h, traceOnly } = opts;
    return [opts.timeout, opts?.noMux, h, traceOnly, opts.priority];
  }
  assert.deepEqual(optionFieldsRead(request), [
    'headers',
    'noMux',
    'priority',
    'timeout',
    'traceOnly',
  ]);
});

test('every caller of request reaches the client in one shape, and gets its answer', async () => {
  const { nc, js, jsm } = nats;
  nc.subscribe('shape.echo', {
    callback: (_err, msg) => {
      msg.respond(`${msg.headers?.get('X-Probe') ?? ''}:${msg.string()}`);
    },
  });
  const seen = await recordingOptions(async () => {
    // A core request with headers, one without options, one on its own inbox.
    const h = headers();
    h.set('X-Probe', 'a');
    assert.equal(
      (await nc.request('shape.echo', 'one', { timeout: 5000, headers: h })).string(),
      'a:one',
    );
    assert.equal((await nc.request('shape.echo', 'two')).string(), ':two');
    const reply = (
      await nc.request('shape.echo', 'three', {
        timeout: 5000,
        noMux: true,
        reply: 'shape.own-inbox',
      })
    ).string();
    assert.equal(reply, ':three');
    // The JetStream API, a stored publish, a direct get, a KV write and read.
    await jsm.streams.add({
      name: 'SHAPES',
      subjects: ['shape.stored.>'],
      storage: StorageType.File,
      allow_direct: true,
    });
    const ack = await js.publish('shape.stored.one', 'kept', { msgID: 'shape-1' });
    assert.equal(ack.seq, 1);
    const stored = await jsm.direct.getMessage('SHAPES', { seq: 1 });
    assert.equal(stored?.string(), 'kept');
    const kv = await new Kvm(nc).create('shapes', { storage: StorageType.File });
    await kv.put('key', 'value');
    assert.equal((await kv.get('key'))?.string(), 'value');
  });
  assert.ok(seen.length >= 8, `requests recorded: ${seen.length}`);
  assert.ok(seen.some((o) => o.noMux === true && o.reply === 'shape.own-inbox'));
  assert.ok(seen.some((o) => o.headers !== undefined));
});

test('a request given no options keeps the library default timeout, and timeouts still fire', async () => {
  const { nc } = nats;
  nc.subscribe('shape.silent', { callback: () => undefined });
  const started = Date.now();
  await assert.rejects(nc.request('shape.silent'), (err) => err instanceof errors.TimeoutError);
  assert.ok(Date.now() - started >= 900, 'the library default of 1000 ms applied');
  await assert.rejects(
    nc.request('shape.silent', 'x', { timeout: 200 }),
    (err) => err instanceof errors.TimeoutError,
  );
  await assert.rejects(nc.request('shape.nobody', 'x', { timeout: 5000 }), (err) => {
    assert.ok(err instanceof errors.RequestError);
    assert.ok(err.isNoResponders());
    return true;
  });
});
