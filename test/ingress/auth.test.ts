/**
 * Who may relay by authenticating: AUTH PLAIN and LOGIN against the submitters the pools
 * publish, offered only on encrypted sessions, throttled per client address when it fails,
 * and the envelope senders and message rate of each submitter.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { METRICS } from '@hikyaku/core';
import { createTransport } from 'nodemailer';
import { makeCertificate, type TestCertificate } from './certs.ts';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, SmtpClient, session } from './smtp-client.ts';

const run = promisify(execFile);
const PASSWORD = 'c0rrect-h0rse';
// The quota counts per calendar minute; a fixed clock keeps the test off minute boundaries.
const NOW = Date.UTC(2026, 10, 30, 12, 0, 10);

let infra: Infra;
let cert: TestCertificate;
let relay: IngressUnderTest;
let env: Record<string, string>;

before(async () => {
  infra = await startInfra();
  cert = makeCertificate(infra.dir, 'auth');
  await infra.publish(
    await testPool(
      'shop',
      {
        submitters: [
          { username: 'shop', allowedSenderDomains: ['shop.example'] },
          { username: 'quota', messagesPerMinute: 2 },
          { username: 'dup' },
          { username: 'nopassword' },
        ],
      },
      { shop: PASSWORD, quota: PASSWORD, dup: PASSWORD },
    ),
    await testPool(
      'other',
      { submitters: [{ username: 'dup' }], allowedNetworks: ['127.0.0.1/32'] },
      { dup: PASSWORD },
    ),
  );
  env = {
    HIKYAKU_TLS_CERT_FILE: cert.certFile,
    HIKYAKU_TLS_KEY_FILE: cert.keyFile,
    HIKYAKU_AUTH_FAILURE_DELAY_MS: '20',
    HIKYAKU_AUTH_FAILURE_MAX_DELAY_MS: '80',
    HIKYAKU_AUTH_MAX_FAILURES: '3',
  };
  relay = await startIngressUnderTest(infra, {
    env,
    pools: ['test_shop', 'test_other'],
    now: () => NOW,
  });
});

after(async () => {
  await relay?.stop();
  await infra?.stop();
});

function offers(lines: string[], keyword: string): boolean {
  return lines.some((line) => line.split(' ')[0] === keyword);
}

test('587 offers STARTTLS and no AUTH in plain text; AUTH appears once encrypted', async () => {
  const client = await SmtpClient.open({ port: relay.ports.submission as number });
  const ehlo = await client.client.ehlo();
  assert.equal(offers(ehlo.lines, 'STARTTLS'), true);
  assert.equal(offers(ehlo.lines, 'AUTH'), false);
  for (const keyword of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'SIZE']) {
    assert.equal(offers(ehlo.lines, keyword), true, keyword);
  }
  assert.ok((await client.client.authPlain('shop', PASSWORD)).code >= 500);
  assert.equal(
    (await client.client.command('MAIL FROM:<a@shop.example>')).line,
    '530 5.7.0 Authentication required',
  );
  assert.equal((await client.client.startTls(cert.cert)).code, 220);
  const secure = await client.client.ehlo();
  assert.ok(secure.lines.includes('AUTH PLAIN LOGIN'), secure.lines.join('|'));
  assert.equal(offers(secure.lines, 'STARTTLS'), false);
  assert.equal((await client.client.authPlain('shop', PASSWORD)).code, 235);
  await client.client.quit();
});

test('port 25 offers STARTTLS, and AUTH only after it; 465 is TLS from the first byte', async () => {
  const plain = await SmtpClient.open({ port: relay.ports.relay as number });
  const ehlo = await plain.client.ehlo();
  assert.equal(offers(ehlo.lines, 'STARTTLS'), true);
  assert.equal(offers(ehlo.lines, 'AUTH'), false);
  await plain.client.startTls(cert.cert);
  assert.ok((await plain.client.ehlo()).lines.includes('AUTH PLAIN LOGIN'));
  await plain.client.quit();

  const implicit = await SmtpClient.open({
    port: relay.ports.smtps as number,
    tls: true,
    ca: cert.cert,
  });
  assert.equal(implicit.greeting.code, 220);
  const secure = await implicit.client.ehlo();
  assert.ok(secure.lines.includes('AUTH PLAIN LOGIN'));
  assert.equal(offers(secure.lines, 'STARTTLS'), false);
  assert.equal(
    implicit.client.tlsSocket?.getPeerX509Certificate()?.fingerprint256,
    cert.fingerprint,
  );
  await implicit.client.quit();
});

test('the right password relays: nodemailer on 587, swaks on 465', async () => {
  const transport = createTransport({
    host: '127.0.0.1',
    port: relay.ports.submission,
    secure: false,
    requireTLS: true,
    tls: { ca: [cert.cert], servername: 'localhost' },
    auth: { user: 'shop', pass: PASSWORD },
    name: 'client.hikyaku.test',
  });
  const info = await transport.sendMail({
    envelope: { from: 'orders@shop.example', to: ['buyer@example.test'] },
    raw: message('auth-587'),
  });
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as (\S+)/);
  const id = /queued as (\S+)/.exec(info.response)?.[1];
  const queued = (await infra.envelopes()).find((e) => e.id === id);
  assert.equal(queued?.submitter, 'shop');
  assert.equal(queued?.pool, 'test_shop');
  assert.equal(queued?.from, 'orders@shop.example');

  const swaks = await run('swaks', [
    '--server',
    `127.0.0.1:${relay.ports.smtps}`,
    '--tlsc',
    '--auth',
    'LOGIN',
    '--auth-user',
    'shop',
    '--auth-password',
    PASSWORD,
    '--from',
    'orders@shop.example',
    '--to',
    'buyer@example.test',
  ]);
  assert.match(swaks.stdout, /250 2\.0\.0 Ok: queued as \S+/);
  assert.ok((await relay.metric(METRICS.ingressAuth, { result: 'success' })) >= 2);
  assert.ok((await relay.metric(METRICS.ingressTlsSessions, { listener: 'smtps' })) >= 1);
});

test('a wrong password is refused, throttled, then the address is locked out', async () => {
  const attacker = '127.0.0.77';
  const failuresBefore = await relay.metric(METRICS.ingressAuth, { result: 'failure' });
  const client = await session({
    port: relay.ports.smtps as number,
    tls: true,
    localAddress: attacker,
  });
  assert.equal(
    (await client.authPlain('shop', 'guess-1')).line,
    '535 5.7.8 Authentication credentials invalid',
  );
  assert.equal((await client.authPlain('shop', 'guess-2')).code, 535);
  assert.equal(
    (await client.authPlain('shop', 'guess-3')).line,
    '421 4.7.0 Too many failed authentication attempts',
  );
  await client.closed;
  // Locked out: even the right password is not checked from that address now.
  const again = await session({
    port: relay.ports.smtps as number,
    tls: true,
    localAddress: attacker,
  });
  assert.equal((await again.authPlain('shop', PASSWORD)).code, 421);
  await again.closed;
  // Other clients are not affected.
  const other = await session({
    port: relay.ports.smtps as number,
    tls: true,
    localAddress: '127.0.0.78',
  });
  assert.equal((await other.authPlain('shop', PASSWORD)).code, 235);
  await other.quit();

  assert.equal(await relay.metric(METRICS.ingressAuth, { result: 'failure' }), failuresBefore + 3);
  assert.ok((await relay.metric(METRICS.ingressAuth, { result: 'throttled' })) >= 1);
  const log = relay.logs.join('');
  assert.match(log, /auth failed/);
  assert.match(log, /127\.0\.0\.77/);
  for (const secret of ['guess-1', 'guess-2', 'guess-3', PASSWORD]) {
    assert.equal(log.includes(secret), false, `the log contains a password: ${secret}`);
    assert.equal(log.includes(Buffer.from(`\0shop\0${secret}`).toString('base64')), false);
  }
});

test('unknown users, users without a password and PLAIN impersonation are refused', async () => {
  const client = await session({
    port: relay.ports.smtps as number,
    tls: true,
    localAddress: '127.0.0.79',
  });
  assert.equal((await client.authPlain('nobody', PASSWORD)).code, 535);
  assert.equal((await client.authPlain('nopassword', '')).code, 535);
  await client.quit();
  const other = await session({
    port: relay.ports.smtps as number,
    tls: true,
    localAddress: '127.0.0.80',
  });
  const token = Buffer.from(`quota\0shop\0${PASSWORD}`).toString('base64');
  assert.equal((await other.command(`AUTH PLAIN ${token}`)).code, 535);
  await other.quit();
});

test('a username two pools declare is refused and logged as a conflict', async () => {
  const client = await session({
    port: relay.ports.smtps as number,
    tls: true,
    localAddress: '127.0.0.81',
  });
  assert.equal((await client.authPlain('dup', PASSWORD)).code, 535);
  await client.quit();
  assert.match(relay.logs.join(''), /several pools/);
  assert.ok((await relay.metric(METRICS.ingressAuth, { result: 'conflict' })) >= 1);
});

test('a submitter may only use the sender domains it is allowed', async () => {
  const client = await session({
    port: relay.ports.smtps as number,
    tls: true,
    localAddress: '127.0.0.82',
  });
  assert.equal((await client.authPlain('shop', PASSWORD)).code, 235);
  for (const sender of ['x@other.example', 'x@sub.shop.example', 'x@shop.example.evil', '']) {
    assert.equal(
      (await client.command(`MAIL FROM:<${sender}>`)).line,
      '553 5.7.1 Sender address not allowed for this submitter',
      sender,
    );
  }
  assert.equal((await client.command('MAIL FROM:<X@SHOP.EXAMPLE>')).code, 250);
  await client.quit();
});

test('587 and 465 need AUTH even from inside allowedNetworks; port 25 does not', async () => {
  const submission = await session({ port: relay.ports.submission as number });
  await submission.startTls(cert.cert);
  await submission.ehlo();
  assert.equal((await submission.command('MAIL FROM:<a@example.test>')).code, 530);
  await submission.quit();
  const plain = await session({ port: relay.ports.relay as number });
  assert.equal((await plain.command('MAIL FROM:<a@example.test>')).code, 250);
  assert.equal((await plain.command('RCPT TO:<b@example.test>')).code, 250);
  await plain.quit();
});

test('the message rate quota of a submitter is shared by every replica', async () => {
  const second = await startIngressUnderTest(infra, {
    env,
    pools: ['test_shop'],
    now: () => NOW,
  });
  try {
    const replies: string[] = [];
    for (const port of [relay.ports.smtps, second.ports.smtps, relay.ports.smtps]) {
      const client = await session({ port: port as number, tls: true, localAddress: '127.0.0.83' });
      assert.equal((await client.authPlain('quota', PASSWORD)).code, 235);
      replies.push((await client.command('MAIL FROM:<a@example.test>')).line);
      await client.quit();
    }
    assert.deepEqual(
      replies.slice(0, 2).map((r) => r.slice(0, 3)),
      ['250', '250'],
    );
    assert.equal(replies[2], '452 4.3.1 Message rate quota exceeded, try again later');
  } finally {
    await second.stop();
  }
});
