/**
 * Bodies removed in purges (HIKYAKU_BODY_REMOVAL=purge) through the whole relay (ingress,
 * scheduler and sender as processes, wire version 2): delivered mail leaves the bodies
 * stream in purges, and mail deferred for longer than the body is kept there is copied
 * out, delivered intact on its retry from the copy, and the copy removed after.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectNats, type NatsHandles, STREAMS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { type RelayFixture, rawMessage, startRelayFixture } from '../harness/relay.ts';

const FROM = 'app@hikyaku.test';
let relay: RelayFixture;
let admin: NatsHandles;
/** Until then, the receiver defers the late recipient (450). */
let deferUntil = 0;

before(async () => {
  relay = await startRelayFixture({
    env: {
      HIKYAKU_WIRE_VERSION: '2',
      HIKYAKU_BODY_REMOVAL: 'purge',
      HIKYAKU_BODY_PURGE_MS: '200',
      HIKYAKU_BODY_KEEP_MS: '1000',
    },
  });
  relay.sink.setBehaviour({
    onRcpt: (rcpt) =>
      rcpt.startsWith('late') && Date.now() < deferUntil
        ? { code: 450, message: '4.2.0 try again later' }
        : undefined,
  });
  admin = await connectNats({ url: relay.stack.natsUrl, name: 'body-purge-e2e' });
});

after(async () => {
  await admin?.nc.close();
  await relay?.stop();
});

const markerOf = (raw: Buffer): string | undefined =>
  /^Subject: test (\S+)/m.exec(raw.toString('latin1'))?.[1];
const received = (marker: string) => relay.sink.messages.filter((m) => markerOf(m.raw) === marker);
const messagesIn = async (stream: string): Promise<number> =>
  (await admin.jsm.streams.info(stream)).state.messages;

test('delivered mail is purged; mail deferred past the keep time is delivered from its copy, which then goes too', async () => {
  deferUntil = Date.now() + 4000;
  const client = createTransport({
    host: relay.stack.smtpHost,
    port: relay.stack.smtpPort,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: 4,
  });
  const sent = ['late-0', ...Array.from({ length: 20 }, (_, i) => `now-${i}`)];
  const raws = new Map<string, Buffer>();
  try {
    await Promise.all(
      sent.map(async (marker) => {
        const to = `${marker}@example.test`;
        const raw = rawMessage({ from: FROM, to, marker, bodyBytes: 4000 });
        raws.set(marker, raw);
        await client.sendMail({ envelope: { from: FROM, to: [to] }, raw });
      }),
    );
  } finally {
    client.close();
  }
  await waitFor('the mail due now delivered', () =>
    sent.filter((m) => m !== 'late-0').every((m) => received(m).length >= 1),
  );
  // The late message's body outlives the keep time while it waits for its retries: it is
  // copied out, and the bodies stream is purged past it.
  await waitFor('the late body copied out and the bodies stream purged', async () => {
    return (await messagesIn(STREAMS.bodiesKept)) === 1 && (await messagesIn(STREAMS.bodies)) === 0;
  });
  assert.equal(received('late-0').length, 0, 'still deferred');

  await waitFor('the late message delivered from its copy', () => received('late-0').length >= 1, {
    timeoutMs: 30_000,
  });
  await waitFor('its copy removed', async () => (await messagesIn(STREAMS.bodiesKept)) === 0);
  for (const marker of sent) {
    const got = received(marker);
    assert.equal(got.length, 1, `${marker} delivered once`);
    // What the relay adds goes in front of the message; the message itself is intact.
    const raw = raws.get(marker) as Buffer;
    assert.ok(got[0]?.raw.includes(raw.subarray(raw.indexOf('\r\n\r\n'))), `${marker} intact`);
  }
});
