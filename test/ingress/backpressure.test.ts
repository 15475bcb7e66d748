/**
 * Back-pressure from JetStream: while NATS is down, or a stream refuses more messages, the
 * ingress answers 451 4.3.0, never 250; once it is back, mail is accepted again; and every
 * message that was answered 250 is in the stream. (The whole-relay fault tests, which kill
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

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('bp', { allowedNetworks: ['127.0.0.0/8'] }));
  relay = await startIngressUnderTest(infra, {
    pools: ['test_bp'],
    env: { HIKYAKU_STORE_TIMEOUT_MS: '1000' },
  });
});

after(async () => {
  await relay?.stop();
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
  const { config } = await infra.admin.jsm.streams.info(STREAMS.envelopes);
  const stored = (await infra.admin.jsm.streams.info(STREAMS.envelopes)).state.messages;
  await infra.admin.jsm.streams.update(STREAMS.envelopes, {
    max_msgs: stored,
    discard: DiscardPolicy.New,
  });
  const client = await session({ port: relay.ports.relay as number });
  try {
    const full = await client.send('a@example.test', ['b@example.test'], message('full'));
    assert.equal(full.line, '451 4.3.0 Temporary storage failure, try again later');
  } finally {
    await infra.admin.jsm.streams.update(STREAMS.envelopes, {
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
