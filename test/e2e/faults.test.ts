/**
 * Nothing accepted is lost: NATS going away makes the ingress answer 451 (never 250), and a
 * SIGKILLed scheduler or sender, once restarted, leaves every accepted message delivered.
 * Duplicates are allowed (at-least-once); losses are not. Every message is counted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sleep, waitFor } from '@hikyaku/testing';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

let relay: RelayFixture;

before(async () => {
  relay = await startRelayFixture({ env: { HIKYAKU_STORE_TIMEOUT_MS: '2000' } });
});

after(async () => {
  await relay?.stop();
});

function markersDelivered(): Set<string> {
  const found = new Set<string>();
  for (const m of relay.sink.messages) {
    const marker = /^Subject: test (\S+)/m.exec(m.raw.toString('latin1'))?.[1];
    if (marker) found.add(marker);
  }
  return found;
}

/** Sends n messages over a few sessions; returns the markers answered 250. */
async function sendBatch(prefix: string, n: number, sessions = 10): Promise<string[]> {
  const client = relayClient(relay.stack, sessions);
  const accepted: string[] = [];
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const marker = `${prefix}-${i}`;
      const to = `${marker}@example.test`;
      try {
        await client.sendMail({
          envelope: { from: 'app@hikyaku.test', to: [to] },
          raw: rawMessage({ from: 'app@hikyaku.test', to, marker, bodyBytes: 1024 }),
        });
        accepted.push(marker);
      } catch {
        // Refused (4xx): the client keeps it; not the relay's to deliver.
      }
    }),
  );
  client.close();
  return accepted;
}

test('NATS down: 451, never 250; back: accepted; nothing answered 250 is lost', async () => {
  const before = await sendBatch('pre-outage', 20, 2);
  assert.equal(before.length, 20);
  const nats = relay.stack.nats;
  assert.ok(nats, 'the fixture runs its own nats-server');
  await nats.stop();

  const client = relayClient(relay.stack, 1);
  await assert.rejects(
    client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: ['outage@example.test'] },
      raw: rawMessage({ from: 'app@hikyaku.test', to: 'outage@example.test', marker: 'outage' }),
    }),
    (err: Error & { responseCode?: number; response?: string }) => {
      assert.equal(err.responseCode, 451);
      assert.match(err.response ?? '', /4\.3\.0/);
      return true;
    },
  );
  client.close();

  // Same port and data directory: what a restarted NATS pod looks like.
  await nats.restart();
  const afterOutage = await waitFor(
    'the ingress to accept again',
    async () => {
      const ok = await sendBatch(`post-outage-${Date.now()}`, 1, 1);
      return ok.length === 1 ? ok : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  const expected = [...before, ...afterOutage];
  await waitFor(
    'every accepted message delivered',
    () => {
      const delivered = markersDelivered();
      return expected.every((m) => delivered.has(m));
    },
    { timeoutMs: 60_000 },
  );
  assert.ok(!markersDelivered().has('outage'), 'a message answered 451 must not be delivered');
});

for (const victim of ['scheduler', 'sender'] as const) {
  test(`SIGKILL of the ${victim} with 500 messages in flight loses nothing`, async () => {
    const prefix = `kill-${victim}`;
    const sending = sendBatch(prefix, 500, 20);
    // Kill once mail is flowing through the victim, not before it started.
    await waitFor(
      'deliveries under way',
      () => [...markersDelivered()].filter((m) => m.startsWith(prefix)).length >= 20,
      { timeoutMs: 60_000, intervalMs: 10 },
    );
    await relay.stack.services[victim].kill();
    const accepted = await sending;
    await sleep(500);
    await relay.stack.services[victim].start();
    await waitFor(
      `all ${accepted.length} accepted messages delivered`,
      () => {
        const delivered = markersDelivered();
        return accepted.every((m) => delivered.has(m));
      },
      { timeoutMs: 120_000 },
    );
    const delivered = markersDelivered();
    const lost = accepted.filter((m) => !delivered.has(m));
    assert.deepEqual(lost, []);
    assert.ok(accepted.length >= 450, `only ${accepted.length} of 500 were accepted`);
  });
}
