import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNats, type TestNats } from '@hikyaku/testing';
import type { NatsConnection } from '@nats-io/nats-core';
import { ProtocolHandler } from '@nats-io/nats-core/internal';
import { connectNats, type NatsHandles } from './nats.ts';
import { NatsClientHookMissingError } from './nats-request.ts';
import { checkNatsWriteHooks } from './nats-turn-writes.ts';

let infra: TestNats;
let receiver: NatsHandles;

before(async () => {
  infra = await startTestNats('writes-receiver', { streams: false, maxReconnectAttempts: 0 });
  receiver = infra.nats;
});

after(async () => {
  await infra?.close();
});

/** Counts the writes the connection hands its socket. */
function countWrites(nc: NatsConnection): { readonly count: number } {
  const transport = (nc as unknown as { protocol: { transport: { send(b: Uint8Array): void } } })
    .protocol.transport;
  const send = transport.send.bind(transport);
  let count = 0;
  transport.send = (frame) => {
    count++;
    send(frame);
  };
  return {
    get count() {
      return count;
    },
  };
}

/**
 * Resolves with the payloads of `n` messages on `subject`, in the order they arrived; what
 * has arrived after 10 s when fewer came (a lost command).
 */
function receive(subject: string, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      resolve(got);
    }, 10_000);
    const sub = receiver.nc.subscribe(subject, {
      max: n,
      callback: (_err, msg) => {
        got.push(msg.string());
        if (got.length === n) {
          clearTimeout(timer);
          resolve(got);
        }
      },
    });
  });
}

test('the installed client has the write internals the once-per-turn write replaces', () => {
  assert.doesNotThrow(() => checkNatsWriteHooks());
});

test('a client whose sendCommand changed is refused with a coded error', () => {
  const proto = ProtocolHandler.prototype as unknown as Record<PropertyKey, unknown>;
  const key = Symbol.for('hikyaku.natsSendCommand');
  const original = proto[key];
  proto[key] = function sendCommand(this: { flushPending(): void }) {
    queueMicrotask(() => this.flushPending());
  };
  try {
    assert.throws(
      () => checkNatsWriteHooks(),
      (err) =>
        err instanceof NatsClientHookMissingError &&
        err.code === 'HIKYAKU_NATS_CLIENT_HOOK_MISSING',
    );
  } finally {
    proto[key] = original;
  }
});

test('commands queued in separate microtask bursts of one turn leave in one write, in order', async () => {
  await receiver.nc.flush();
  const arrived = receive('writes.burst', 10);
  await receiver.nc.flush();
  const sender = await connectNats({
    url: infra.server.url,
    name: 'writes-sender',
    maxReconnectAttempts: 0,
  });
  try {
    await sender.nc.flush();
    const writes = countWrites(sender.nc);
    // Each await ends a microtask burst: the library alone wrote after each publish.
    await new Promise<void>((resolve) => {
      setImmediate(async () => {
        for (let i = 0; i < 10; i++) {
          sender.nc.publish('writes.burst', `m${i}`);
          await Promise.resolve();
        }
        resolve();
      });
    });
    assert.deepEqual(
      await arrived,
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    assert.equal(writes.count, 1);
  } finally {
    await sender.nc.close();
  }
});

test('close writes what was queued in its turn before the socket closes', async () => {
  const arrived = receive('writes.close', 1);
  await receiver.nc.flush();
  const sender = await connectNats({
    url: infra.server.url,
    name: 'writes-closing',
    maxReconnectAttempts: 0,
  });
  await sender.nc.flush();
  sender.nc.publish('writes.close', 'last words');
  await sender.nc.close();
  assert.deepEqual(await arrived, ['last words']);
});
