/**
 * A receiver that takes two connections from an IP and greets a third with "421 4.7.0 Too
 * many concurrent SMTP connections from this IP" (slow transactions make the sender want
 * more). The first batch teaches the scheduler the limit; the second batch must then go
 * through without a single refused connection and never more than two at once. All mail
 * is delivered.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { readThrottleStates, throttledSite } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { SMTPServer } from 'smtp-server';
import { IP1, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const ALLOWED = 2;
const BATCH = 40;
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z') });
const open = new Map<string, number>();
let refused = 0;
let mostOpen = 0;
let server: SMTPServer;
let port = 0;
let relay: ShapingFixture;

before(async () => {
  server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    hideSTARTTLS: true,
    logger: false,
    onConnect(session, callback) {
      const ip = session.remoteAddress.replace(/^::ffff:/, '');
      const now = (open.get(ip) ?? 0) + 1;
      if (now > ALLOWED) {
        refused++;
        callback(
          Object.assign(new Error('4.7.0 Too many concurrent SMTP connections from this IP'), {
            responseCode: 421,
          }),
        );
        return;
      }
      open.set(ip, now);
      mostOpen = Math.max(mostOpen, now);
      (session as { counted?: boolean }).counted = true;
      callback();
    },
    onClose(session) {
      if (!(session as { counted?: boolean }).counted) return;
      const ip = session.remoteAddress.replace(/^::ffff:/, '');
      open.set(ip, (open.get(ip) ?? 1) - 1);
    },
    onData(stream, _session, callback) {
      stream.resume();
      // Slow transactions: the sender opens more connections to keep up.
      stream.on('end', () => setTimeout(() => callback(null, '2.0.0 Ok'), 150));
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.25', () => resolve()));
  port = (server.server.address() as AddressInfo).port;
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '500', HIKYAKU_CONNECTION_IDLE_MS: '2000' },
    spec: {
      ips: [IP1],
      routes: [{ domains: ['carrier.test'], host: `127.0.0.25:${port}` }],
      retry: { schedule: ['5s'], maxAge: '1h' },
      ratePolicies: [
        {
          name: 'carrier',
          match: { domains: ['carrier.test'] },
          perIp: { messagesPerMinute: 6000, connections: 10, messagesPerConnection: 1000 },
          onThrottle: { pause: '30s', factor: 0.5, recoverAfter: '30m' },
        },
      ],
    },
  });
});

after(async () => {
  await relay?.stop();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

async function batch(tag: string): Promise<void> {
  const ids = await Promise.all(
    Array.from({ length: BATCH }, (_, i) => relay.submit({ to: [`${tag}${i}@carrier.test`] })),
  );
  await waitFor(
    `batch ${tag} delivered`,
    () => ids.every((id) => relay.eventsOf('delivered').some((e) => e.id === id)),
    { timeoutMs: 120_000 },
  );
}

test('connection limits are learned from 421s that name connections; then none are refused', async (t) => {
  await batch('learn');
  const learnedRefusals = refused;
  const states = await readThrottleStates(relay.redis, relay.pool.key, clock.now());
  const state = states.get(IP1.address)?.get('carrier');
  assert.ok(state, 'a connection limit was learned');
  const site = throttledSite('carrier', state, clock.now());
  t.diagnostic(
    `first batch: ${learnedRefusals} connections refused, learned ${JSON.stringify(site)}`,
  );
  assert.ok(learnedRefusals > 0, 'the receiver did refuse connections while learning');
  assert.equal(site.reason, 'connections');
  assert.ok((site.connections ?? 99) <= ALLOWED, `learned ${site.connections} connections`);
  assert.ok(site.messagesPerMinute >= 6000, 'the rate was not cut for a connection limit');

  refused = 0;
  // Connections of the first batch may still be open and carry the second.
  mostOpen = open.get(IP1.address) ?? 0;
  await batch('after');
  t.diagnostic(`second batch: ${refused} refused, at most ${mostOpen} connections at once`);
  assert.equal(refused, 0);
  assert.ok(mostOpen <= ALLOWED);
  const metrics = (await relay.schedulers[0]?.registry.metrics()) ?? '';
  assert.match(
    metrics,
    /hikyaku_scheduler_learned_connections\{[^}]*policy="carrier"[^}]*reason="connections"[^}]*\} [12]\b/,
  );
});
