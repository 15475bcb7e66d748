/**
 * Back-pressure from JetStream: while NATS is down, or a stream refuses more messages, the
 * ingress answers 451 4.3.0, never 250; once it is back, mail is accepted again; and every
 * message that was answered 250 is in the stream. Back-pressure from memory: the bytes of
 * message data held at once are bounded (452 4.3.1 over the bound). (The whole-relay fault tests, which kill
 * processes and count deliveries, are in test/e2e.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSuppressionList, METRICS, STREAMS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { DiscardPolicy } from '@nats-io/jetstream';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, session } from './smtp-client.ts';

let infra: Infra;
let relay: IngressUnderTest;
let tight: IngressUnderTest;

const MiB = 1024 * 1024;

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('bp', { allowedNetworks: ['127.0.0.0/8'] }));
  relay = await startIngressUnderTest(infra, {
    pools: ['test_bp'],
    env: { HIKYAKU_STORE_TIMEOUT_MS: '1000' },
  });
  tight = await startIngressUnderTest(infra, {
    pools: ['test_bp'],
    env: { HIKYAKU_MAX_INFLIGHT_BYTES: String(MiB) },
  });
});

after(async () => {
  await relay?.stop();
  await tight?.stop();
  await infra?.stop();
});

test('NATS down: 451 4.3.0; NATS back: 250; nothing answered 250 is missing', async () => {
  const client = await session({ port: relay.ports.relay as number });
  const answered: { line: string; id?: string }[] = [];
  let n = 0;
  async function sendOne(): Promise<string> {
    const reply = await client.send('a@example.test', ['b@example.test'], message(`bp-${n++}`));
    const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply.line)?.[1];
    answered.push({ line: reply.line, ...(id ? { id } : {}) });
    return reply.line;
  }

  assert.match(await sendOne(), /^250 /);
  await infra.stopNats();
  const refused = await waitFor('a 451 while NATS is down', async () => {
    const line = await sendOne();
    return line.startsWith('451') ? line : undefined;
  });
  assert.equal(refused, '451 4.3.0 Temporary storage failure, try again later');
  // Still down: still refused, and the session stays usable.
  assert.match(await sendOne(), /^451 4\.3\.0 /);
  await infra.startNats();
  await waitFor('a 250 once NATS is back', async () => (await sendOne()).startsWith('250'), {
    timeoutMs: 30_000,
  });
  assert.match(await sendOne(), /^250 /);
  await client.quit();

  for (const { line } of answered) assert.match(line, /^(250 2\.0\.0|451 4\.3\.0) /);
  const stored = new Set((await infra.envelopes()).map((e) => e.id));
  for (const { id } of answered.filter((a) => a.id)) {
    assert.ok(stored.has(id as string), `message ${id} was answered 250 but is not stored`);
  }
});

test('a stream at its limit gives 451 4.3.0 until it has room again', async () => {
  // The bodies stream: every message is written there first, whatever the wire version.
  const { config } = await infra.admin.jsm.streams.info(STREAMS.bodies);
  const stored = (await infra.admin.jsm.streams.info(STREAMS.bodies)).state.messages;
  await infra.admin.jsm.streams.update(STREAMS.bodies, {
    max_msgs: stored,
    discard: DiscardPolicy.New,
  });
  const client = await session({ port: relay.ports.relay as number });
  try {
    const full = await client.send('a@example.test', ['b@example.test'], message('full'));
    assert.equal(full.line, '451 4.3.0 Temporary storage failure, try again later');
  } finally {
    await infra.admin.jsm.streams.update(STREAMS.bodies, {
      max_msgs: config.max_msgs,
      discard: config.discard,
    });
  }
  const room = await client.send('a@example.test', ['b@example.test'], message('room'));
  assert.match(room.line, /^250 2\.0\.0 Ok: queued as /);
  await client.quit();
});

test('Redis down: the suppression check is skipped and counted, mail is still accepted', async () => {
  await createSuppressionList(infra.redis).add('test_bp', 'gone@example.test', {
    reason: 'hard-bounce',
    at: 0,
    source: 'test',
  });
  const client = await session({ port: relay.ports.relay as number });
  await client.command('MAIL FROM:<a@example.test>');
  assert.equal((await client.command('RCPT TO:<gone@example.test>')).code, 550);
  await client.command('RSET');
  await infra.stopRedis();
  try {
    const reply = await client.send('a@example.test', ['gone@example.test'], message('no-redis'));
    assert.match(reply.line, /^250 2\.0\.0 Ok: queued as /);
    assert.ok((await relay.metric(METRICS.ingressPolicyErrors, { check: 'suppression' })) >= 1);
  } finally {
    await infra.startRedis();
  }
  await client.quit();
});

test('Redis down: mail is accepted without waiting on Redis, the outage is reported once', {
  timeout: 90_000,
}, async () => {
  // A lookup that waited for Redis would hold its message for ten minutes.
  const patient = await startIngressUnderTest(infra, {
    pools: ['test_bp'],
    env: { HIKYAKU_REDIS_TIMEOUT_MS: '600000' },
  });
  try {
    assert.equal(await patient.metric(METRICS.redisUp), 1);
    assert.equal(patient.redis.describe(), 'redis: up');
    await infra.stopRedis();
    try {
      await waitFor('the outage noticed', () => !patient.redis.available());
      const client = await session({ port: patient.ports.relay as number });
      for (let i = 0; i < 30; i++) {
        const reply = await client.send(
          'a@example.test',
          ['gone@example.test'],
          message(`nr-${i}`),
        );
        assert.match(reply.line, /^250 2\.0\.0 Ok: queued as /);
      }
      await client.quit();
      assert.ok(
        (await patient.metric(METRICS.ingressPolicyErrors, { check: 'suppression' })) >= 30,
      );
      assert.equal(await patient.metric(METRICS.redisUp), 0);
      assert.match(patient.redis.describe(), /^redis: unreachable since \S+/);
    } finally {
      await infra.startRedis();
    }
    await waitFor('redis back', () => patient.redis.available(), { timeoutMs: 30_000 });
    assert.equal(await patient.metric(METRICS.redisUp), 1);
    const client = await session({ port: patient.ports.relay as number });
    await client.command('MAIL FROM:<a@example.test>');
    assert.equal((await client.command('RCPT TO:<gone@example.test>')).code, 550);
    await client.quit();
    const lines = patient.logs.map((l) => JSON.parse(l) as { msg: string });
    assert.equal(lines.filter((l) => l.msg === 'redis unreachable').length, 1);
    assert.equal(lines.filter((l) => l.msg === 'redis reachable again').length, 1);
    assert.equal(lines.filter((l) => /policy lookup failed/.test(l.msg)).length, 0);
  } finally {
    await patient.stop();
  }
});

/** A message of about `bytes`, in lines a receiver takes. */
function sized(marker: string, bytes: number): string {
  const line = `${'0123456789abcdef'.repeat(4)}\r\n`;
  return `${message(marker)}\r\n${line.repeat(Math.ceil(bytes / line.length))}`;
}

test('the bytes held at once are bounded: 452 4.3.1 over the bound, and nothing is lost', async () => {
  const port = tight.ports.relay as number;
  const first = await session({ port });
  const second = await session({ port });
  // The first message is held, half sent.
  assert.equal((await first.command('MAIL FROM:<a@example.test>')).code, 250);
  assert.equal((await first.command('RCPT TO:<b@example.test>')).code, 250);
  assert.equal((await first.command('DATA')).code, 354);
  const body = sized('held', 600 * 1024);
  const half = Math.floor(body.length / 2) + 100 * 1024;
  first.write(body.slice(0, half));
  await waitFor('the first message held', async () =>
    (await tight.metric(METRICS.ingressInflightBytes)) >= half - 1024 ? true : undefined,
  );

  // A declared SIZE that does not fit is refused at once; one that fits is taken.
  const declared = await second.command(`MAIL FROM:<a@example.test> SIZE=${700 * 1024}`);
  assert.equal(declared.line, '452 4.3.1 Insufficient system storage, try again later');
  // Without SIZE the message is read, and refused at its end when it did not fit.
  const over = await second.send('a@example.test', ['b@example.test'], sized('over', 700 * 1024));
  assert.equal(over.line, '452 4.3.1 Insufficient system storage, try again later');

  first.write(`${body.slice(half)}\r\n.\r\n`);
  const held = await first.read();
  assert.match(held.line, /^250 2\.0\.0 Ok: queued as /);
  assert.equal(await tight.metric(METRICS.ingressInflightBytes), 0);
  // The client tries again once there is room: accepted.
  const retried = await second.send(
    'a@example.test',
    ['b@example.test'],
    sized('over', 700 * 1024),
  );
  assert.match(retried.line, /^250 2\.0\.0 Ok: queued as /);
  // A declared SIZE is set aside at MAIL FROM, before any data, and given back by RSET
  // and a new MAIL FROM.
  assert.equal((await second.command(`MAIL FROM:<a@example.test> SIZE=${700 * 1024}`)).code, 250);
  assert.equal(await tight.metric(METRICS.ingressInflightBytes), 700 * 1024);
  const crowded = await first.command(`MAIL FROM:<a@example.test> SIZE=${400 * 1024}`);
  assert.equal(crowded.line, '452 4.3.1 Insufficient system storage, try again later');
  await second.command('RSET');
  assert.equal((await second.command('MAIL FROM:<a@example.test>')).code, 250);
  assert.equal(await tight.metric(METRICS.ingressInflightBytes), 0);
  await first.quit();
  await second.quit();
  assert.equal(await tight.metric(METRICS.ingressInflightBytes), 0);

  const stored = new Set((await infra.envelopes()).map((e) => e.id));
  for (const reply of [held, retried]) {
    assert.ok(stored.has(reply.line.split(' ').at(-1) as string), reply.line);
  }
  assert.equal(await tight.metric(METRICS.ingressRefused, { reason: 'insufficientStorage' }), 3);
});
