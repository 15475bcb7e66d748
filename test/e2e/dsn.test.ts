/**
 * The DSN extension (RFC 3461) through the whole relay: what the client asked at MAIL FROM
 * and RCPT TO decides which DSNs the relay sends (NOTIFY), what they quote back (ENVID,
 * ORCPT) and return (RET), and what a next hop that offers DSN is given instead.
 *
 * Receivers: example.test (the fixture's sink, no DSN) refuses `bounce-*` with 550 5.1.1;
 * dsn.test offers DSN; sender.test receives the DSNs sent to the clients' envelope sender.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type SmtpSink, startSmtpSink, waitFor } from '@hikyaku/testing';
import { simpleParser } from 'mailparser';
import { createTransport } from 'nodemailer';
import { type RelayFixture, startRelayFixture } from '../harness/relay.ts';
import { message, session } from '../ingress/smtp-client.ts';

const SENDER = 'app@sender.test';

let relay: RelayFixture;
let dsnSink: SmtpSink;
let senderSink: SmtpSink;

before(async () => {
  dsnSink = await startSmtpSink({ host: '127.0.6.2', port: 0, dsn: true });
  senderSink = await startSmtpSink({ host: '127.0.6.3', port: 0 });
  relay = await startRelayFixture({
    sinkHost: '127.0.6.1',
    extraRoutes: [
      { domains: ['dsn.test'], host: `127.0.6.2:${dsnSink.port}` },
      { domains: ['sender.test'], host: `127.0.6.3:${senderSink.port}` },
    ],
    spec: { bounces: { notifySender: true, suppressHardBounces: false } },
  });
  relay.sink.setBehaviour({
    onRcpt: (rcpt) =>
      rcpt.startsWith('bounce-') ? { code: 550, message: '5.1.1 No such user' } : undefined,
  });
});

after(async () => {
  await relay?.stop();
  await dsnSink?.close();
  await senderSink?.close();
});

/** The DSNs the envelope sender got that are about this recipient. */
function dsnsAbout(rcpt: string) {
  return senderSink.messages.filter((m) =>
    m.raw.toString('latin1').includes(`Final-Recipient: rfc822; ${rcpt}`),
  );
}

/** Delivery-status fields of a DSN, one map per recipient block. */
function recipientBlocks(raw: Buffer): Map<string, string>[] {
  const text = raw.toString('latin1');
  return text
    .split(/\r\n\r\n/)
    .filter((block) => /^Final-Recipient: /m.test(block))
    .map(
      (block) =>
        new Map(
          block
            .replace(/\r\n[ \t]+/g, ' ')
            .split('\r\n')
            .filter((line) => /^[A-Za-z-]+: /.test(line))
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        ),
    );
}

function relayClient() {
  return createTransport({
    host: relay.stack.smtpHost,
    port: relay.stack.smtpPort,
    ignoreTLS: true,
  });
}

test('NOTIFY=NEVER: no DSN about that recipient; one without NOTIFY still gets it', async () => {
  const c = await session({ host: relay.stack.smtpHost, port: relay.stack.smtpPort });
  assert.equal((await c.command(`MAIL FROM:<${SENDER}>`)).code, 250);
  assert.equal((await c.command('RCPT TO:<bounce-never@example.test> NOTIFY=NEVER')).code, 250);
  assert.equal((await c.command('RCPT TO:<bounce-default@example.test>')).code, 250);
  assert.equal((await c.command('DATA')).code, 354);
  c.write(`${message('notify-never')}\r\n.\r\n`);
  assert.equal((await c.read()).code, 250);
  await c.quit();

  // Both recipients are one job, and a job's failures are reported in one DSN.
  const [dsn] = await waitFor('the DSN', () => {
    const found = dsnsAbout('bounce-default@example.test');
    return found.length > 0 ? found : undefined;
  });
  assert.ok(dsn);
  assert.deepEqual(
    recipientBlocks(dsn.raw).map((b) => b.get('Final-Recipient')),
    ['rfc822; bounce-default@example.test'],
  );
  assert.equal(dsnsAbout('bounce-never@example.test').length, 0);
  assert.ok(
    relay.events.some((e) => e.type === 'bounced' && e.rcpt === 'bounce-never@example.test'),
    'the recipient bounced all the same',
  );
});

test('RET=HDRS returns the headers only; ENVID and ORCPT are quoted back', async () => {
  await relayClient().sendMail({
    envelope: { from: SENDER, to: ['bounce-hdrs@example.test'] },
    raw: message('ret-hdrs'),
    dsn: {
      id: 'order-42',
      return: 'headers',
      notify: 'failure',
      recipient: 'rfc822;Original-Address@Example.test',
    },
  });
  const dsn = await waitFor('the DSN', () => dsnsAbout('bounce-hdrs@example.test')[0]);
  const text = dsn.raw.toString('latin1');
  assert.match(text, /^Original-Envelope-Id: order-42\r$/m);
  const [block] = recipientBlocks(dsn.raw);
  assert.equal(block?.get('Original-Recipient'), 'rfc822;Original-Address@Example.test');
  assert.equal(block?.get('Action'), 'failed');
  assert.equal(block?.get('Status'), '5.1.1');
  const parsed = await simpleParser(dsn.raw);
  const returned = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
  assert.ok(returned, 'the headers are returned');
  assert.match(returned.content.toString(), /^Subject: ret-hdrs\r$/m);
  assert.ok(!parsed.attachments.some((a) => a.contentType === 'message/rfc822'));
  assert.doesNotMatch(text, /body of ret-hdrs/);
});

test('NOTIFY=SUCCESS: passed on to a next hop with DSN, "relayed" DSN for one without', async () => {
  await relayClient().sendMail({
    envelope: { from: SENDER, to: ['passed@dsn.test'] },
    raw: message('success-dsn-hop'),
    dsn: {
      id: 'order-43',
      return: 'full',
      notify: ['success', 'failure'],
      recipient: 'rfc822;Passed@Orig.test',
    },
  });
  const passed = await waitFor('delivery at the DSN hop', () =>
    dsnSink.messages.find((m) => m.rcpts.includes('passed@dsn.test')),
  );
  assert.deepEqual(passed.dsn, {
    ret: 'FULL',
    envid: 'order-43',
    rcpts: [
      {
        address: 'passed@dsn.test',
        notify: ['SUCCESS', 'FAILURE'],
        orcpt: 'rfc822;Passed@Orig.test',
      },
    ],
  });
  // A DSN about it would have been handed to JetStream before this event was published.
  await waitFor('the delivered event', () =>
    relay.events.some((e) => e.type === 'delivered' && e.rcpt === 'passed@dsn.test'),
  );

  await relayClient().sendMail({
    envelope: { from: SENDER, to: ['relayed@example.test'] },
    raw: message('success-plain-hop'),
    dsn: { id: 'order-44', notify: 'success' },
  });
  const dsn = await waitFor('the relayed DSN', () => dsnsAbout('relayed@example.test')[0]);
  const parsed = await simpleParser(dsn.raw);
  assert.equal(parsed.subject, 'Successful Mail Delivery Report');
  const [block] = recipientBlocks(dsn.raw);
  assert.equal(block?.get('Action'), 'relayed');
  assert.equal(block?.get('Status'), '2.0.0');
  assert.match(block?.get('Diagnostic-Code') ?? '', /^smtp; 250 2\.0\.0 Ok: queued as /);
  assert.match(dsn.raw.toString('latin1'), /^Original-Envelope-Id: order-44\r$/m);
  assert.ok(relay.sink.messages.some((m) => m.rcpts.includes('relayed@example.test')));

  // The second message's DSN came after everything the first one could have caused.
  assert.equal(dsnsAbout('relayed@example.test').length, 1, 'one relayed DSN');
  assert.equal(dsnsAbout('passed@dsn.test').length, 0, 'no DSN for the DSN hop');
});
