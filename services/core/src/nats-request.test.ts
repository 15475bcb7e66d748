import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import { errors } from '@nats-io/nats-core';
import { RequestOne } from '@nats-io/nats-core/internal';
import type { NatsHandles } from './nats.ts';
import { checkNatsClientHooks } from './nats-request.ts';

let infra: TestNats;
let nats: NatsHandles;

before(async () => {
  infra = await startTestNats('request-test', { streams: false, maxReconnectAttempts: 0 });
  nats = infra.nats;
});

after(async () => {
  await infra?.close();
});

test('the installed client has the request internals the quiet path replaces', () => {
  assert.doesNotThrow(() => checkNatsClientHooks());
});

test('an answered request resolves without the cancel that builds an unused error', async () => {
  nats.nc.subscribe('quiet.echo', {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  const proto = RequestOne.prototype as unknown as { cancel: (err?: Error) => void };
  const cancel = proto.cancel;
  let cancels = 0;
  proto.cancel = function counted(this: unknown, err?: Error) {
    cancels++;
    cancel.call(this, err);
  };
  try {
    for (let i = 0; i < 20; i++) {
      const reply = await nats.nc.request('quiet.echo', `ping ${i}`, { timeout: 10_000 });
      assert.equal(reply.string(), `ping ${i}`);
    }
  } finally {
    proto.cancel = cancel;
  }
  assert.equal(cancels, 0);
});

test('failed requests still reject with the client own errors', async () => {
  await assert.rejects(nats.nc.request('quiet.nobody', 'x', { timeout: 10_000 }), (err) => {
    assert.ok(err instanceof errors.RequestError);
    assert.ok(err.isNoResponders());
    return true;
  });
  // A responder that never answers: the request times out.
  nats.nc.subscribe('quiet.silent', { callback: () => undefined });
  await assert.rejects(
    nats.nc.request('quiet.silent', 'x', { timeout: 200 }),
    (err) => err instanceof errors.TimeoutError,
  );
});
