/**
 * The ingress in the whole relay (local stack: ingress, scheduler and sender processes, a
 * receiving SMTP server on a loopback address): smuggling attempts never reach the
 * receiver as a second message, and a submitter that authenticates on 587 after STARTTLS
 * gets its mail delivered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashPassword } from '@hikyaku/core';
import { type LocalStack, startLocalStack } from '@hikyaku/local';
import { freePort, type SmtpSink, startSmtpSink, waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { testPool } from '../harness/relay.ts';
import { makeCertificate, type TestCertificate } from './certs.ts';
import { message, session } from './smtp-client.ts';

const PASSWORD = 'e2e-password';

let dir: string;
let sink: SmtpSink;
let stack: LocalStack;
let cert: TestCertificate;
let submissionPort: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-ingress-e2e-'));
  cert = makeCertificate(dir, 'e2e');
  sink = await startSmtpSink({ host: '127.0.0.10', port: 0 });
  submissionPort = await freePort();
  stack = await startLocalStack({
    pool: testPool({
      sinkHost: sink.host,
      sinkPort: sink.port,
      submitters: [{ username: 'shop', allowedSenderDomains: ['shop.example'] }],
    }),
    passwordHashes: { shop: await hashPassword(PASSWORD, { cost: 1024 }) },
    dataDir: join(dir, 'stack'),
    smtpPort: await freePort(),
    env: {
      HIKYAKU_LOG_LEVEL: 'warn',
      HIKYAKU_LISTENERS: 'relay,submission',
      HIKYAKU_SUBMISSION_PORT: String(submissionPort),
      HIKYAKU_TLS_CERT_FILE: cert.certFile,
      HIKYAKU_TLS_KEY_FILE: cert.keyFile,
    },
    onOutput: (name, line) => {
      if (/"level":(50|60)/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
    },
  });
});

after(async () => {
  await stack?.stop();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

function subject(raw: Buffer): string | undefined {
  return /^Subject: (.*)$/m.exec(raw.toString('latin1'))?.[1];
}

test('smuggling attempts never reach the receiver as a second message', async () => {
  const smuggled =
    'MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<target@example.test>\r\nDATA\r\n' +
    'From: <ceo@victim.example>\r\nSubject: smuggled\r\n\r\npay the invoice\r\n';
  const client = await session({ port: stack.smtpPort });
  for (const variant of ['\n.\n', '\r.\r', '\r\n.\n', '\n.\r\n']) {
    await client.command('MAIL FROM:<app@hikyaku.test>');
    await client.command('RCPT TO:<carrier@example.test>');
    await client.command('DATA');
    client.write(`Subject: carrier\r\n\r\ncarrier${variant}${smuggled}\r\n.\r\n`);
    assert.equal((await client.read()).code, 554, JSON.stringify(variant));
  }
  const ok = await client.send('app@hikyaku.test', ['carrier@example.test'], message('carrier-ok'));
  assert.match(ok.line, /^250 /);
  await client.quit();

  await waitFor(
    'the legitimate message at the receiver',
    () => sink.messages.some((m) => subject(m.raw) === 'carrier-ok'),
    { timeoutMs: 90_000 },
  );
  const seen = sink.messages.filter((m) => m.rcpts.includes('carrier@example.test'));
  assert.equal(seen.length, 1);
  assert.equal(
    sink.messages.some(
      (m) => m.rcpts.includes('target@example.test') || m.raw.includes('smuggled'),
    ),
    false,
  );
});

test('a submitter authenticated on 587 after STARTTLS gets its mail delivered', async () => {
  const info = await createTransport({
    host: '127.0.0.1',
    port: submissionPort,
    secure: false,
    requireTLS: true,
    tls: { ca: [cert.cert], servername: 'localhost' },
    auth: { user: 'shop', pass: PASSWORD },
  }).sendMail({
    envelope: { from: 'orders@shop.example', to: ['buyer@example.test'] },
    raw: message('submitted'),
  });
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
  const delivered = await waitFor(
    'the submitted message at the receiver',
    () => sink.messages.find((m) => subject(m.raw) === 'submitted'),
    { timeoutMs: 90_000 },
  );
  assert.equal(delivered.from, 'orders@shop.example');
  assert.match(delivered.raw.toString('latin1'), /with ESMTPSA \(using TLSv1\.[23] with cipher /);
});
