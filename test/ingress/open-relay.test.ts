/**
 * No open relay: a client outside every pool's allowedNetworks that has not authenticated
 * is refused whatever it tries, and nothing it sends is queued. The patterns are the
 * classic ones relay testers use against MTAs that also deliver locally.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { METRICS } from '@hikyaku/core';
import { createTransport } from 'nodemailer';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, session } from './smtp-client.ts';

const run = promisify(execFile);

// 127.0.0.1 is inside the pool's networks; every other loopback address is outside.
const INSIDE = '127.0.0.1';
const OUTSIDE = '127.0.0.66';

let infra: Infra;
let relay: IngressUnderTest;

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('inside', { allowedNetworks: ['127.0.0.1/32'] }));
  relay = await startIngressUnderTest(infra, { pools: ['test_inside'] });
});

after(async () => {
  await relay?.stop();
  await infra?.stop();
});

const RECIPIENTS = [
  'victim@foreign.example',
  'victim%foreign.example@relay.hikyaku.test',
  '"victim@foreign.example"@relay.hikyaku.test',
  '@relay.hikyaku.test:victim@foreign.example',
  '@a.example,@b.example:victim@foreign.example',
  'victim@foreign.example@relay.hikyaku.test',
  'foreign.example!victim@relay.hikyaku.test',
  'foreign.example!victim',
  'VICTIM@FOREIGN.EXAMPLE',
  'victim@foreign.example.',
  'victim@[192.0.2.1]',
  'victim@[IPv6:2001:db8::1]',
  'victim@127.0.0.1',
  'postmaster',
  'postmaster@relay.hikyaku.test',
];
const SENDERS = ['', 'postmaster', 'postmaster@relay.hikyaku.test', 'someone@foreign.example'];

test('unauthenticated clients outside allowedNetworks are refused for every pattern', async () => {
  const before = (await infra.envelopes()).length;
  const client = await session({ port: relay.ports.relay as number, localAddress: OUTSIDE });
  let tried = 0;
  for (const sender of SENDERS) {
    const mail = await client.command(`MAIL FROM:<${sender}>`);
    if (mail.code === 250) {
      for (const rcpt of RECIPIENTS) {
        const reply = await client.command(`RCPT TO:<${rcpt}>`);
        assert.ok(reply.code >= 500, `<${sender}> -> <${rcpt}>: ${reply.line}`);
        tried++;
      }
      // Pipelined clients send DATA anyway; it must not open a message.
      const data = await client.command('DATA');
      assert.ok(data.code >= 500, data.line);
      await client.command('RSET');
    } else {
      assert.ok(mail.code >= 500, mail.line);
    }
  }
  assert.ok(tried >= 10 * SENDERS.length - 10, `only ${tried} combinations reached RCPT`);
  // The relay denial itself is the documented reply.
  await client.command('MAIL FROM:<app@hikyaku.test>');
  assert.equal(
    (await client.command('RCPT TO:<victim@foreign.example>')).line,
    '554 5.7.1 Relay access denied',
  );
  await client.quit();
  assert.equal((await infra.envelopes()).length, before, 'nothing may be queued');
  assert.ok(
    (await relay.metric(METRICS.ingressRefused, { reason: 'relayDenied', listener: 'relay' })) >=
      10,
  );
});

test('swaks from outside is refused; from inside the same command relays', async () => {
  const base = [
    '--server',
    `127.0.0.1:${relay.ports.relay}`,
    '--from',
    'app@hikyaku.test',
    '--to',
    'someone@example.test',
    '--helo',
    'client.hikyaku.test',
  ];
  const outside = await run('swaks', [...base, '--local-interface', OUTSIDE]).then(
    () => assert.fail('swaks from outside succeeded'),
    (err: { stdout: string }) => err.stdout,
  );
  assert.match(outside, /<\*\* 554 5\.7\.1 Relay access denied/);
  const inside = await run('swaks', [...base, '--local-interface', INSIDE]);
  assert.match(inside.stdout, /<- {2}250 2\.0\.0 Ok: queued as \S+/);
});

test('nodemailer from outside gets the refusal; from inside it is queued', async () => {
  const send = (localAddress: string) =>
    createTransport({
      host: '127.0.0.1',
      port: relay.ports.relay,
      secure: false,
      ignoreTLS: true,
      localAddress,
      name: 'client.hikyaku.test',
    }).sendMail({
      envelope: { from: 'app@hikyaku.test', to: ['someone@example.test'] },
      raw: message('nodemailer-relay'),
    });
  await assert.rejects(send(OUTSIDE), (err: { responseCode?: number; response?: string }) => {
    assert.equal(err.responseCode, 554);
    assert.match(err.response ?? '', /5\.7\.1 Relay access denied/);
    return true;
  });
  const info = await send(INSIDE);
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as \S+/);
  const queued = await infra.envelopes();
  const last = queued[queued.length - 1];
  assert.equal(last?.pool, 'test_inside');
  assert.deepEqual(last?.rcpts, ['someone@example.test']);
  assert.equal(last?.clientAddress, INSIDE);
});

test('inside the allowed networks, addresses a relay must not forward are still refused', async () => {
  const client = await session({ port: relay.ports.relay as number, localAddress: INSIDE });
  assert.equal((await client.command('MAIL FROM:<app@hikyaku.test>')).code, 250);
  for (const rcpt of [
    'victim@[192.0.2.1]',
    '"victim@foreign.example"@relay.hikyaku.test',
    'victim@foreign.example@relay.hikyaku.test',
    'postmaster',
    'victim@localhost',
    `${'x'.repeat(65)}@example.test`,
  ]) {
    const reply = await client.command(`RCPT TO:<${rcpt}>`);
    assert.equal(reply.code, 501, `<${rcpt}>: ${reply.line}`);
  }
  // Upper case is only a spelling: the domain is stored in lower case.
  assert.equal((await client.command('RCPT TO:<Someone@EXAMPLE.Test>')).code, 250);
  await client.quit();
});
