/**
 * A sender domain held by the complaint guard: its bulk mail waits in the queue while its
 * other mail flows, and what is still held at the pool's maximum age expires like any
 * waiting mail (one `expired` event, a DSN to the sender) instead of waiting for ever. The
 * test clock runs 12,000 times real time: the 2-hour maximum age passes in 0.6 s.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REDIS_KEYS } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 12_000 });
let receiver: SmtpSink;
let senders: SmtpSink;
let relay: ShapingFixture;

before(async () => {
  receiver = await startSmtpSink({ host: '127.0.0.26', port: 0 });
  senders = await startSmtpSink({ host: '127.0.0.27', port: 0 });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '200' },
    spec: {
      routes: [
        { domains: ['dest.test'], host: `127.0.0.26:${receiver.port}` },
        { domains: ['shop.test'], host: `127.0.0.27:${senders.port}` },
      ],
      retry: { schedule: ['1m'], maxAge: '2h' },
      bounces: { notifySender: true, suppressHardBounces: true },
      feedback: {
        bounceDomain: 'bounces.shop.test',
        signingKeyFile: 'unused-in-tests',
        senderDomains: ['shop.test'],
      },
    },
  });
  await relay.redis.hset(
    REDIS_KEYS.complaintHolds(relay.pool.key),
    'shop.test',
    JSON.stringify({ rate: 0.01, delivered: 1000, complaints: 10, at: clock.now() }),
  );
});

after(async () => {
  await relay?.stop();
  await receiver?.close();
  await senders?.close();
});

test('held bulk mail waits, other mail flows, and what is held expires at max age', async () => {
  const held = await relay.submit({ from: 'news@shop.test', to: ['a@dest.test'], bulk: true });
  const flows = await relay.submit({ from: 'orders@shop.test', to: ['b@dest.test'] });
  await waitFor('the transactional message delivered', () =>
    relay.eventsOf('delivered').find((e) => e.id === flows),
  );
  const expired = await waitFor(
    'the held message expired',
    () => relay.eventsOf('expired').find((e) => e.id === held),
    { timeoutMs: 60_000 },
  );
  assert.equal(expired.reply?.enhanced, '4.4.7');
  assert.equal(relay.eventsOf('expired').filter((e) => e.id === held).length, 1);
  assert.equal(
    receiver.messages.some((m) => m.rcpts.includes('a@dest.test')),
    false,
    'the held message was never sent',
  );
  const dsn = await waitFor('the DSN to the sender', () =>
    senders.messages.find((m) => m.rcpts.includes('news@shop.test')),
  );
  assert.match(dsn.raw.toString('latin1'), /Status: 4\.4\.7/);
});
