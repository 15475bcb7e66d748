/**
 * The message data on the wire. The sender writes a message after DATA without nodemailer's
 * DataStream; a receiver must get exactly the bytes nodemailer itself would have sent. Each
 * message goes once through nodemailer's own SMTPConnection and once through a sender
 * session, over real connections to an SMTP receiver that records every byte its clients
 * send: the two transcripts must be identical, and the message must arrive as it was.
 */
import assert from 'node:assert/strict';
import { isAscii } from 'node:buffer';
import { after, before, describe, it } from 'node:test';
import { openSession } from '@hikyaku/sender';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { IP1 } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

const HOST = '127.0.5.91';
const FROM = 'app@hikyaku.test';
const RCPT = 'someone@example.test';

const timeouts = {
  connectTimeoutMs: 5000,
  greetingTimeoutMs: 5000,
  commandTimeoutMs: 5000,
  dataTimeoutMs: 60_000,
  tlsVerify: false,
};

let receiver: Receiver;

before(async () => {
  [receiver] = (await startReceivers([HOST], { recordWire: true })) as [Receiver];
});

after(async () => {
  await receiver.close();
});

const envelopeOf = (message: Buffer) => ({
  from: FROM,
  to: [RCPT],
  size: message.byteLength,
  use8BitMime: !isAscii(message),
});

/** What the client of the connection accepted last sent, once it closed. */
async function lastTranscript(connections: number): Promise<Buffer> {
  while (receiver.stats.connections < connections || receiver.stats.open > 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Buffer.concat(receiver.wire[connections - 1] ?? []);
}

/** One transaction through nodemailer's own SMTPConnection: the reference. */
async function sendWithNodemailer(message: Buffer): Promise<Buffer> {
  const conn = new SMTPConnection({
    host: HOST,
    port: receiver.port,
    localAddress: IP1.address,
    name: IP1.hostname,
    ignoreTLS: true,
    logger: false,
  });
  await new Promise<void>((resolve, reject) => {
    conn.once('error', reject);
    conn.connect(() => resolve());
  });
  await new Promise((resolve, reject) =>
    conn.send(envelopeOf(message), message, (err, info) => (err ? reject(err) : resolve(info))),
  );
  conn.quit();
  return lastTranscript(receiver.stats.connections);
}

/** The same transaction through a sender session. */
async function sendWithSession(message: Buffer): Promise<Buffer> {
  const session = await openSession(
    {
      localAddress: IP1.address,
      ehloName: IP1.hostname,
      host: HOST,
      address: HOST,
      port: receiver.port,
    },
    timeouts,
  );
  await session.send({ from: FROM, to: [RCPT] }, message);
  await session.close();
  return lastTranscript(receiver.stats.connections);
}

/** Sends the message both ways; returns the sender's transcript and what arrived. */
async function compare(message: Buffer): Promise<{ wire: Buffer; received: Buffer }> {
  const reference = await sendWithNodemailer(message);
  const wire = await sendWithSession(message);
  assert.equal(wire.length, reference.length, 'the same number of bytes on the wire');
  assert.ok(wire.equals(reference), 'the same bytes on the wire');
  const received = receiver.messages.at(-1)?.raw;
  assert.ok(received, 'the receiver got the message');
  const before = receiver.messages.at(-2)?.raw;
  assert.ok(before?.equals(received), 'both messages arrived alike');
  return { wire, received };
}

const crlf = (text: string): Buffer => Buffer.from(text.replace(/\n/g, '\r\n'));

describe('message data on the wire', () => {
  it('doubles a dot that starts a line, the first line included', async () => {
    const message = crlf('.first line\n..two dots\n.\nmiddle . not at the start\n.last\n');
    const { wire, received } = await compare(message);
    // The receiver undoes the stuffing: the message arrives as it was.
    assert.ok(received.equals(message));
    assert.ok(wire.includes('\r\n..first line\r\n...two dots\r\n..\r\nmiddle'));
    assert.ok(wire.includes('\r\n..last\r\n.\r\n'));
  });

  it('turns bare LF and bare CR into CRLF, and doubles a dot after either', async () => {
    const message = Buffer.from(
      'Subject: x\n\nbare lf\n.dot after lf\rbare cr\r.dot after cr\r\r\n',
    );
    const { received } = await compare(message);
    assert.equal(
      received.toString('latin1'),
      'Subject: x\r\n\r\nbare lf\r\n.dot after lf\r\nbare cr\r\n.dot after cr\r\n\r\n',
    );
  });

  it('ends a message whose last line has no line end, or ends in a bare CR, with CRLF first', async () => {
    for (const [text, arrives] of [
      ['Subject: x\r\n\r\nno line end', 'Subject: x\r\n\r\nno line end\r\n'],
      ['Subject: x\r\n\r\nends in a bare CR\r', 'Subject: x\r\n\r\nends in a bare CR\r\n'],
      ['Subject: x\r\n\r\n.', 'Subject: x\r\n\r\n.\r\n'],
    ] as const) {
      const { received } = await compare(Buffer.from(text, 'latin1'));
      assert.equal(received.toString('latin1'), arrives);
    }
  });

  it('keeps 8-bit bytes and line ends that straddle the 64 KiB a stream reads at once', async () => {
    const size = 3 * 65_536;
    const message = Buffer.alloc(size, 0xe9);
    message.write('Subject: x\r\n\r\n', 0, 'latin1');
    for (const at of [65_535, 2 * 65_536 - 1]) message.write('\r\n.', at, 'latin1');
    message.write('\n.', 2 * 65_536 + 100, 'latin1');
    message.write('\r\n', size - 2, 'latin1');
    const { received } = await compare(message);
    assert.equal(received.length, size + 1, 'the bare LF got its CR');
  });

  it('sends a 25 MiB message with dot lines exactly as nodemailer does', async () => {
    const line = Buffer.from(`${'x'.repeat(76)}\r\n.${'y'.repeat(75)}\r\n`, 'latin1');
    const message = Buffer.alloc(25 * 1024 * 1024);
    message.write('Subject: large\r\n\r\n', 0, 'latin1');
    for (let at = 18; at + line.length <= message.length; at += line.length) line.copy(message, at);
    message.write('\r\n', message.length - 2, 'latin1');
    const { wire, received } = await compare(message);
    assert.ok(received.equals(message));
    assert.ok(wire.length > message.length + 160_000, 'every other line was stuffed');
  });
});
