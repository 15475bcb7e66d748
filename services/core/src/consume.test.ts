import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sleep, startTestNats, type TestNats, waitFor } from '@hikyaku/testing';
import { startConsumerLoop } from './consume.ts';
import { createLogger } from './log.ts';
import { connectNats, ensureConsumer, type NatsHandles } from './nats.ts';

const STREAM = 'consume_test';
let infra: TestNats;
let admin: NatsHandles;
const log = createLogger({ level: 'silent', name: 'consume-test' });

before(async () => {
  infra = await startTestNats('consume-admin', { streams: false, maxReconnectAttempts: 0 });
  admin = infra.nats;
  await admin.jsm.streams.add({ name: STREAM, subjects: [`${STREAM}.>`] });
});

after(async () => {
  await infra?.close();
});

/**
 * Counts the socket writes of a connection that carry acks (`+ACK`, or what `pattern`
 * matches), forwarding each one unchanged.
 */
function countAckWrites(
  nats: NatsHandles,
  pattern = /\+ACK/g,
): { readonly writes: number; readonly acks: number } {
  const transport = (
    nats.nc as unknown as { protocol: { transport: { send(b: Uint8Array): void } } }
  ).protocol.transport;
  const send = transport.send.bind(transport);
  const decoder = new TextDecoder();
  let writes = 0;
  let acks = 0;
  transport.send = (frame) => {
    const found = decoder.decode(frame).match(pattern)?.length ?? 0;
    if (found > 0) {
      writes++;
      acks += found;
    }
    send(frame);
  };
  return {
    get writes() {
      return writes;
    },
    get acks() {
      return acks;
    },
  };
}

async function settled(durable: string): Promise<void> {
  for (;;) {
    const info = await admin.jsm.consumers.info(STREAM, durable);
    if (info.num_ack_pending === 0 && info.num_pending === 0) return;
    await sleep(20);
  }
}

test('acks given by handlers in separate callbacks of one turn go to the server in one write', async () => {
  const durable = 'batched_acks';
  const n = 10;
  await ensureConsumer(admin.jsm, STREAM, durable, {
    filterSubject: `${STREAM}.acks`,
    ackWaitMs: 30_000,
    maxAckPending: n,
  });
  for (let i = 0; i < n; i++) await admin.js.publish(`${STREAM}.acks`, `m${i}`);

  const nats = await connectNats({
    url: infra.server.url,
    name: 'consume-acks',
    maxReconnectAttempts: 0,
  });
  const counted = countAckWrites(nats);
  let started = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const loop = await startConsumerLoop({
    js: nats.js,
    stream: STREAM,
    durable,
    concurrency: n,
    log,
    async handle(msg) {
      if (++started === n) release();
      await gate;
      // Each handler acks from its own callback, as handlers do when their last reply comes.
      await nextTurn();
      msg.ack();
    },
  });
  try {
    await settled(durable);
    assert.equal(started, n);
    assert.equal(counted.acks, n);
    assert.equal(counted.writes, 1);
  } finally {
    await loop.stop();
    await nats.nc.close();
  }
});

test('a message whose handler throws is handed back and handled again', async () => {
  const durable = 'thrown';
  await ensureConsumer(admin.jsm, STREAM, durable, {
    filterSubject: `${STREAM}.thrown`,
    ackWaitMs: 30_000,
    maxAckPending: 4,
  });
  await admin.js.publish(`${STREAM}.thrown`, 'poison once');

  const nats = await connectNats({
    url: infra.server.url,
    name: 'consume-nak',
    maxReconnectAttempts: 0,
  });
  const deliveries: number[] = [];
  const loop = await startConsumerLoop({
    js: nats.js,
    stream: STREAM,
    durable,
    concurrency: 4,
    log,
    errorDelayMs: 100,
    async handle(msg) {
      deliveries.push(msg.info.deliveryCount);
      if (msg.info.deliveryCount === 1) throw new Error('first time fails');
      msg.ack();
    },
  });
  try {
    await settled(durable);
    assert.ok(deliveries.length >= 2, `delivered ${deliveries.length} time(s)`);
    assert.deepEqual(deliveries.slice(0, 2), [1, 2]);
  } finally {
    await loop.stop();
    await nats.nc.close();
  }
});

/** A durable consumer of `<stream>.<durable>` and a connection of its own to consume it on. */
async function consumerWithConnection(durable: string): Promise<NatsHandles> {
  await ensureConsumer(admin.jsm, STREAM, durable, {
    filterSubject: `${STREAM}.${durable}`,
    ackWaitMs: 30_000,
    maxAckPending: 16,
  });
  return connectNats({
    url: infra.server.url,
    name: `consume-${durable}`,
    maxReconnectAttempts: 0,
  });
}

test('messages that arrive within the gathering window start together, their acks in one write', async () => {
  const durable = 'gathered';
  const n = 5;
  const nats = await consumerWithConnection(durable);
  const counted = countAckWrites(nats);
  const loop = await startConsumerLoop({
    js: nats.js,
    stream: STREAM,
    durable,
    concurrency: 16,
    gatherMs: 1000,
    log,
    async handle(msg) {
      msg.ack();
    },
  });
  try {
    // One at a time, each stored before the next: without the window each would be
    // handled, and acked, as it came.
    for (let i = 0; i < n; i++) await admin.js.publish(`${STREAM}.gathered`, `m${i}`);
    await settled(durable);
    assert.equal(counted.acks, n);
    assert.equal(counted.writes, 1);
  } finally {
    await loop.stop();
    await nats.nc.close();
  }
});

test('without a gathering window each message arriving on its own is handled as it comes', async () => {
  const durable = 'not_gathered';
  const n = 5;
  const nats = await consumerWithConnection(durable);
  const counted = countAckWrites(nats);
  let handled = 0;
  const loop = await startConsumerLoop({
    js: nats.js,
    stream: STREAM,
    durable,
    concurrency: 16,
    log,
    async handle(msg) {
      handled++;
      msg.ack();
    },
  });
  try {
    for (let i = 0; i < n; i++) {
      await admin.js.publish(`${STREAM}.not_gathered`, `m${i}`);
      await waitFor(`message ${i} handled`, () => handled === i + 1, { timeoutMs: 10_000 });
    }
    await settled(durable);
    assert.equal(counted.acks, n);
    assert.equal(counted.writes, n);
  } finally {
    await loop.stop();
    await nats.nc.close();
  }
});

test('gathered messages start at once when they fill the concurrency, and stopping hands back the rest', async () => {
  const durable = 'gathered_full';
  const nats = await consumerWithConnection(durable);
  const naks = countAckWrites(nats, /-NAK/g);
  const started: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  // A window far longer than the test: only a full concurrency (3) starts anything.
  const loop = await startConsumerLoop({
    js: nats.js,
    stream: STREAM,
    durable,
    concurrency: 3,
    gatherMs: 600_000,
    log,
    async handle(msg) {
      started.push(new TextDecoder().decode(msg.data));
      await held;
      msg.ack();
    },
  });
  let stopped = false;
  try {
    for (let i = 0; i < 3; i++) await admin.js.publish(`${STREAM}.gathered_full`, `m${i}`);
    await waitFor('three handlers started', () => started.length === 3, { timeoutMs: 10_000 });
    assert.deepEqual(started, ['m0', 'm1', 'm2']);
    release();
    await settled(durable);

    // One more opens a window that would outlast the test; stopping hands it back unhandled
    // (a nak, so it is delivered again at once rather than after the 30 s ack wait).
    await admin.js.publish(`${STREAM}.gathered_full`, 'm3');
    await waitFor(
      'm3 delivered to the loop',
      async () => (await admin.jsm.consumers.info(STREAM, durable)).num_ack_pending === 1,
      { timeoutMs: 10_000 },
    );
    await loop.stop();
    stopped = true;
    assert.deepEqual(started, ['m0', 'm1', 'm2']);
    await waitFor('the nak written', () => naks.acks >= 1, { timeoutMs: 10_000 });
  } finally {
    release();
    if (!stopped) await loop.stop();
    await nats.nc.close();
  }
});
