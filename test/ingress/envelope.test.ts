/**
 * What the ingress checks in the envelope and does to the message: the size limit
 * (declared and actual), the recipient limit, the suppression list, address syntax, and the
 * header fields it adds without touching the client's bytes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSuppressionList, METRICS } from '@hikyaku/core';
import { createTransport } from 'nodemailer';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, type SmtpClient, session } from './smtp-client.ts';

const MAX_SIZE = 64 * 1024;

let infra: Infra;
let relay: IngressUnderTest;

before(async () => {
  infra = await startInfra();
  await infra.publish(
    await testPool('env', {
      allowedNetworks: ['127.0.0.0/8'],
      maxMessageSize: MAX_SIZE,
      maxRecipients: 3,
    }),
  );
  relay = await startIngressUnderTest(infra, { pools: ['test_env'] });
});

after(async () => {
  await relay?.stop();
  await infra?.stop();
});

async function queuedBody(id: string): Promise<string> {
  const envelope = (await infra.envelopes()).find((e) => e.id === id);
  assert.ok(envelope, `envelope ${id} is queued`);
  return Buffer.from(await infra.bodies.get(id, envelope.body)).toString('latin1');
}

function queueId(line: string): string {
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(line)?.[1];
  assert.ok(id, line);
  return id;
}

async function client(): Promise<SmtpClient> {
  return session({ port: relay.ports.relay as number });
}

test('SIZE is advertised; a declared size over the limit is refused at MAIL FROM', async () => {
  const c = await client();
  const ehlo = await c.ehlo();
  assert.ok(ehlo.lines.includes(`SIZE ${MAX_SIZE}`), ehlo.lines.join('|'));
  const reply = await c.command(`MAIL FROM:<a@example.test> SIZE=${MAX_SIZE + 1}`);
  assert.equal(reply.code, 552);
  assert.match(reply.line, /^552 5\.3\.4 /);
  assert.equal((await c.command(`MAIL FROM:<a@example.test> SIZE=${MAX_SIZE}`)).code, 250);
  await c.quit();
});

test('an oversize message gets 552 5.3.4 and is not stored', async () => {
  const envelopes = (await infra.envelopes()).length;
  const c = await client();
  const big = `${message('too-big')}\r\n${'x'.repeat(76)}\r\n`.repeat(1 + MAX_SIZE / 80);
  const reply = await c.send('a@example.test', ['b@example.test'], big);
  assert.equal(reply.line, '552 5.3.4 Message size exceeds fixed limit');
  // The session goes on; the next message is fine.
  const ok = await c.send('a@example.test', ['b@example.test'], message('after-big'));
  assert.equal(ok.code, 250);
  await c.quit();
  assert.equal((await infra.envelopes()).length, envelopes + 1);
  assert.ok(
    (await relay.metric(METRICS.ingressRefused, { reason: 'messageTooBig', pool: 'test_env' })) >=
      1,
  );
});

test('recipients over the limit get 452 4.5.3; the first ones are kept', async () => {
  const c = await client();
  await c.command('MAIL FROM:<a@example.test>');
  for (const n of [1, 2, 3])
    assert.equal((await c.command(`RCPT TO:<r${n}@example.test>`)).code, 250);
  assert.equal(
    (await c.command('RCPT TO:<r4@example.test>')).line,
    '452 4.5.3 Too many recipients',
  );
  assert.equal((await c.command('DATA')).code, 354);
  c.write(`${message('three-rcpts')}\r\n.\r\n`);
  const id = queueId((await c.read()).line);
  await c.quit();
  const envelope = (await infra.envelopes()).find((e) => e.id === id);
  assert.deepEqual(envelope?.rcpts, ['r1@example.test', 'r2@example.test', 'r3@example.test']);
});

test('suppressed recipients are refused with 550 5.1.1 and the reason', async () => {
  const list = createSuppressionList(infra.redis);
  await list.add('test_env', 'Bounced@Example.test', {
    reason: 'hard-bounce',
    at: Date.now(),
    reply: { code: 550, enhanced: '5.1.1', text: 'No such user' },
    source: 'scheduler',
  });
  const c = await client();
  await c.command('MAIL FROM:<a@example.test>');
  assert.equal(
    (await c.command('RCPT TO:<bounced@EXAMPLE.TEST>')).line,
    '550 5.1.1 Recipient address is suppressed: hard-bounce',
  );
  assert.equal((await c.command('RCPT TO:<fine@example.test>')).code, 250);
  await c.quit();
  // nodemailer reports the refused recipient.
  const info = await createTransport({
    host: '127.0.0.1',
    port: relay.ports.relay,
    ignoreTLS: true,
  }).sendMail({
    envelope: { from: 'a@example.test', to: ['bounced@example.test', 'fine@example.test'] },
    raw: message('partly-suppressed'),
  });
  assert.deepEqual(info.rejected, ['bounced@example.test']);
  assert.deepEqual(info.accepted, ['fine@example.test']);
});

test('header or CRLF injection and overlong addresses are refused', async () => {
  const c = await client();
  for (const line of [
    'MAIL FROM:<a@example.test\r>',
    'MAIL FROM:<a@example.test> BODY=8BITMIME\rRCPT',
    `MAIL FROM:<${'a'.repeat(65)}@example.test>`,
    'MAIL FROM:<a@exam ple.test>',
    'MAIL FROM:<"a b"@example.test>',
  ]) {
    const reply = await c.command(line);
    assert.ok(reply.code >= 500, `${JSON.stringify(line)}: ${reply.line}`);
  }
  assert.equal((await c.command('MAIL FROM:<a@example.test>')).code, 250);
  for (const rcpt of ['b@example.test\rX-Injected: yes', `b@${'d'.repeat(64)}.test`]) {
    assert.ok((await c.command(`RCPT TO:<${rcpt}>`)).code >= 500, rcpt);
  }
  await c.quit();
});

test('non-ASCII local parts need SMTPUTF8; IDN domains are stored as A-labels', async () => {
  const c = await client();
  await c.command('MAIL FROM:<a@example.test>');
  assert.equal(
    (await c.command('RCPT TO:<j\u00fcrgen@example.test>')).line.slice(0, 9),
    '553 5.6.7',
  );
  await c.command('RSET');
  assert.equal((await c.command('MAIL FROM:<a@example.test> SMTPUTF8')).code, 250);
  const idn = await c.command('RCPT TO:<j\u00fcrgen@b\u00fccher.example>');
  assert.equal(idn.code, 250, idn.line);
  assert.equal((await c.command('DATA')).code, 354);
  c.write(`${message('utf8')}\r\n.\r\n`);
  const id = queueId((await c.read()).line);
  await c.quit();
  const envelope = (await infra.envelopes()).find((e) => e.id === id);
  assert.deepEqual(envelope?.rcpts, ['j\u00fcrgen@xn--bcher-kva.example']);
});

test('Date and Message-ID are added when missing; otherwise only Received is', async () => {
  const c = await client();
  const bare = 'From: <a@example.test>\r\nSubject: no date\r\n\r\nbody\r\n';
  const id = queueId((await c.send('a@example.test', ['b@example.test'], bare)).line);
  const stored = await queuedBody(id);
  assert.match(stored, /\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n/);
  assert.match(stored, new RegExp(`\\r\\nMessage-ID: <${id}@relay\\.hikyaku\\.test>\\r\\n`));
  assert.ok(stored.endsWith(`${bare}\r\n`));

  // A client-signed message: every byte after the relay's Received header is the client's.
  const signed = [
    'DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=s1; h=from:subject:date;',
    '\tbh=abc; b=def',
    'From: <a@example.test>',
    'Subject: signed',
    'Date: Mon, 30 Nov 2026 00:00:00 +0000',
    'Message-ID: <signed@example.test>',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'caf\u00e9 \t trailing spaces   ',
    '..a line that starts with a dot',
    '',
    '',
  ].join('\r\n');
  const raw = Buffer.from(signed, 'utf8');
  const dotStuffed = Buffer.from(signed.replace(/\r\n\.\./g, '\r\n...'), 'utf8');
  await c.command('MAIL FROM:<a@example.test>');
  await c.command('RCPT TO:<b@example.test>');
  await c.command('DATA');
  c.write(dotStuffed);
  c.write('.\r\n');
  const signedId = queueId((await c.read()).line);
  await c.quit();
  const envelope = (await infra.envelopes()).find((e) => e.id === signedId);
  assert.ok(envelope);
  const body = Buffer.from(await infra.bodies.get(signedId, envelope.body));
  const received = body.indexOf('DKIM-Signature:');
  assert.ok(body.subarray(0, received).toString().startsWith('Received: '));
  assert.ok(body.subarray(received).equals(raw), 'the client bytes changed');
});

test('Received and Date carry the second each message came in, across a second boundary', async () => {
  // The clock stands just before a second ends, then just after: the date text, formatted
  // once per second, must follow it, and agree with the envelope's receivedAt.
  const second = Date.UTC(2026, 11, 31, 23, 59, 59);
  let clock = second + 999;
  const timed = await startIngressUnderTest(infra, { pools: ['test_env'], now: () => clock });
  try {
    const sent: { id: string; at: number; from: string }[] = [];
    for (const [at, from] of [
      [second + 999, '127.0.0.2'],
      [second + 999, '127.0.0.3'],
      [second + 1000, '127.0.0.4'],
      [second - 1, '127.0.0.2'],
    ] as const) {
      clock = at;
      const c = await session({ port: timed.ports.relay as number, localAddress: from });
      const bare = `From: <a@example.test>\r\nSubject: at ${at}\r\n\r\nbody\r\n`;
      sent.push({
        id: queueId((await c.send('a@example.test', ['b@example.test'], bare)).line),
        at,
        from,
      });
      await c.quit();
    }
    const dates = [
      'Thu, 31 Dec 2026 23:59:59 +0000',
      'Thu, 31 Dec 2026 23:59:59 +0000',
      'Fri, 01 Jan 2027 00:00:00 +0000',
      'Thu, 31 Dec 2026 23:59:58 +0000',
    ];
    for (const [i, { id, at, from }] of sent.entries()) {
      const stored = await queuedBody(id);
      const added =
        `Received: from client.hikyaku.test ([${from}])\r\n` +
        '\tby relay.hikyaku.test (hikyaku) with ESMTP\r\n' +
        `\tid ${id}\r\n\tfor <b@example.test>;\r\n\t${dates[i]}\r\nDate: ${dates[i]}\r\n`;
      assert.equal(stored.slice(0, added.length), added);
      const envelope = (await infra.envelopes()).find((e) => e.id === id);
      assert.equal(envelope?.receivedAt, at);
      assert.equal(envelope?.clientAddress, from);
      const accepted = timed.logs
        .map((line) => JSON.parse(line) as { msg: string; id?: string; client?: string })
        .find((entry) => entry.msg === 'accepted' && entry.id === id);
      assert.equal(accepted?.client, from);
    }
  } finally {
    await timed.stop();
  }
});
