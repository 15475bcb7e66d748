import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '@hikyaku/testing';
import {
  type RelayFixture,
  rawMessage,
  relayClient,
  sha256,
  startRelayFixture,
  withoutRelayTrace,
} from '../harness/relay.ts';

let relay: RelayFixture;

before(async () => {
  relay = await startRelayFixture();
});

after(async () => {
  await relay?.stop();
});

function subjectMarker(raw: Buffer): string | undefined {
  return /^Subject: test (\S+)/m.exec(raw.toString('latin1'))?.[1];
}

test('200 messages arrive intact, each from one of the pool IPs, using both', async () => {
  const client = relayClient(relay.stack, 10);
  const sent = new Map<string, string>();
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const marker = `bulk-${i}`;
      const raw = rawMessage({
        from: 'app@hikyaku.test',
        to: `user${i}@example.test`,
        marker,
        bodyBytes: 2000 + i * 13,
      });
      sent.set(marker, sha256(raw));
      const info = await client.sendMail({
        envelope: { from: 'app@hikyaku.test', to: [`user${i}@example.test`] },
        raw,
      });
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as \S+/);
    }),
  );
  client.close();
  await waitFor(
    '200 deliveries',
    () => {
      const markers = new Set(relay.sink.messages.map((m) => subjectMarker(m.raw)));
      return [...sent.keys()].every((k) => markers.has(k));
    },
    { timeoutMs: 60_000 },
  );
  const peers = new Set<string>();
  for (const message of relay.sink.messages) {
    const marker = subjectMarker(message.raw);
    if (!marker?.startsWith('bulk-')) continue;
    assert.equal(
      sha256(withoutRelayTrace(message.raw)),
      sent.get(marker),
      `body of ${marker} changed`,
    );
    assert.ok(['127.0.0.2', '127.0.0.3'].includes(message.peerAddress), message.peerAddress);
    assert.equal(
      message.ehlo,
      message.peerAddress === '127.0.0.2' ? 'mta1.hikyaku.test' : 'mta2.hikyaku.test',
    );
    peers.add(message.peerAddress);
  }
  assert.deepEqual([...peers].sort(), ['127.0.0.2', '127.0.0.3']);
});

test('a 25 MiB message is relayed intact', async () => {
  const client = relayClient(relay.stack, 1);
  const raw = rawMessage({
    from: 'app@hikyaku.test',
    to: 'big@example.test',
    marker: 'big-25',
    bodyBytes: 25 * 1024 * 1024 - 2048,
  });
  await client.sendMail({ envelope: { from: 'app@hikyaku.test', to: ['big@example.test'] }, raw });
  client.close();
  const received = await waitFor(
    'the 25 MiB message',
    () => relay.sink.messages.find((m) => subjectMarker(m.raw) === 'big-25'),
    { timeoutMs: 60_000 },
  );
  assert.ok(received.raw.length > 25 * 1024 * 1024 - 4096);
  assert.equal(sha256(withoutRelayTrace(received.raw)), sha256(raw));
});

test('a 451 on the first attempt is retried and delivered; a 550 bounces once', async () => {
  const seen = new Map<string, number>();
  relay.sink.setBehaviour({
    onRcpt(rcpt) {
      if (rcpt === 'later@example.test') {
        const n = (seen.get(rcpt) ?? 0) + 1;
        seen.set(rcpt, n);
        if (n === 1) return { code: 451, message: '4.3.0 Try again later' };
      }
      if (rcpt === 'nobody@example.test') {
        seen.set(rcpt, (seen.get(rcpt) ?? 0) + 1);
        return { code: 550, message: '5.1.1 No such user' };
      }
      return undefined;
    },
  });
  const client = relayClient(relay.stack, 1);
  for (const to of ['later@example.test', 'nobody@example.test']) {
    await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: [to] },
      raw: rawMessage({ from: 'app@hikyaku.test', to, marker: `reply-${to.split('@')[0]}` }),
    });
  }
  client.close();
  await waitFor(
    'the deferred message on its retry',
    () => relay.sink.messages.find((m) => subjectMarker(m.raw) === 'reply-later'),
    { timeoutMs: 30_000 },
  );
  assert.equal(seen.get('later@example.test'), 2);
  const bounce = await waitFor('a bounce event', () =>
    relay.events.find((e) => e.type === 'bounced' && e.rcpt === 'nobody@example.test'),
  );
  assert.equal(bounce.reply?.code, 550);
  assert.equal(bounce.reply?.enhanced, '5.1.1');
  assert.ok(relay.events.some((e) => e.type === 'deferred' && e.rcpt === 'later@example.test'));
  // The event follows the receiver's 250: the result travels back through the scheduler first.
  await waitFor('the delivered event', () =>
    relay.events.some((e) => e.type === 'delivered' && e.rcpt === 'later@example.test'),
  );
  // Give a wrongly scheduled retry the time to happen, then check there was none.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(seen.get('nobody@example.test'), 1);
  assert.equal(
    relay.events.filter((e) => e.type === 'bounced' && e.rcpt === 'nobody@example.test').length,
    1,
  );
  relay.sink.setBehaviour({});
});
