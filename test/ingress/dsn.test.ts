/**
 * The DSN extension (RFC 3461) at the front door: DSN is advertised, RET and ENVID on MAIL
 * FROM and NOTIFY and ORCPT on RCPT TO are accepted and stored with the envelope, and
 * malformed values get 501 5.5.4.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Envelope, METRICS } from '@hikyaku/core';
import { createTransport } from 'nodemailer';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, type SmtpClient, session } from './smtp-client.ts';

let infra: Infra;
let relay: IngressUnderTest;

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('dsn', { allowedNetworks: ['127.0.0.0/8'] }));
  relay = await startIngressUnderTest(infra, { pools: ['test_dsn'] });
});

after(async () => {
  await relay?.stop();
  await infra?.stop();
});

async function client(): Promise<SmtpClient> {
  return session({ port: relay.ports.relay as number });
}

async function envelopeOf(reply: { line: string }): Promise<Envelope> {
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply.line)?.[1];
  assert.ok(id, reply.line);
  const envelope = (await infra.envelopes()).find((e) => e.id === id);
  assert.ok(envelope, `envelope ${id} is queued`);
  return envelope;
}

test('EHLO advertises DSN', async () => {
  const c = await client();
  const ehlo = await c.ehlo();
  assert.ok(ehlo.lines.includes('DSN'), ehlo.lines.join('|'));
  await c.quit();
});

test('RET, ENVID, NOTIFY and ORCPT are stored with the envelope, per recipient', async () => {
  const c = await client();
  assert.equal(
    (await c.command('MAIL FROM:<app@hikyaku.test> RET=HDRS ENVID=QQ+2B314159')).code,
    250,
  );
  for (const line of [
    'RCPT TO:<a@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;A+2Btag@Example.test',
    'RCPT TO:<b@example.test> NOTIFY=never',
    'RCPT TO:<c@example.test>',
  ]) {
    const reply = await c.command(line);
    assert.equal(reply.code, 250, `${line}: ${reply.line}`);
  }
  assert.equal((await c.command('DATA')).code, 354);
  c.write(`${message('dsn-params')}\r\n.\r\n`);
  const envelope = await envelopeOf(await c.read());
  await c.quit();
  assert.deepEqual(envelope.dsn, { ret: 'HDRS', envid: 'QQ+314159' });
  assert.deepEqual(envelope.rcptDsn, [
    { rcpt: 'a@example.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;A+tag@Example.test' },
    { rcpt: 'b@example.test', notify: ['NEVER'] },
  ]);
});

test("nodemailer's DSN options arrive as given", async () => {
  const transport = createTransport({
    host: '127.0.0.1',
    port: relay.ports.relay,
    ignoreTLS: true,
  });
  const info = await transport.sendMail({
    envelope: { from: 'app@hikyaku.test', to: ['d@example.test'] },
    raw: message('dsn-nodemailer'),
    dsn: { id: 'order-7', return: 'full', notify: ['failure', 'delay'], recipient: 'd@orig.test' },
  });
  const envelope = await envelopeOf({ line: info.response });
  assert.deepEqual(envelope.dsn, { ret: 'FULL', envid: 'order-7' });
  assert.deepEqual(envelope.rcptDsn, [
    { rcpt: 'd@example.test', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;d@orig.test' },
  ]);
});

test('a message without DSN parameters carries none', async () => {
  const c = await client();
  const envelope = await envelopeOf(
    await c.send('app@hikyaku.test', ['e@example.test'], message('no-dsn')),
  );
  await c.quit();
  assert.equal(envelope.dsn, undefined);
  assert.equal(envelope.rcptDsn, undefined);
});

test('malformed DSN parameters get 501 5.5.4', async () => {
  const c = await client();
  for (const line of [
    'MAIL FROM:<app@hikyaku.test> RET=BODY',
    'MAIL FROM:<app@hikyaku.test> RET',
    'MAIL FROM:<app@hikyaku.test> ENVID=a ENVID=b',
    `MAIL FROM:<app@hikyaku.test> ENVID=${'x'.repeat(101)}`,
    'MAIL FROM:<app@hikyaku.test> ENVID=caf+C3+A9',
  ]) {
    const reply = await c.command(line);
    assert.match(reply.line, /^501 5\.5\.4 /, `${line}: ${reply.line}`);
  }
  assert.equal((await c.command('MAIL FROM:<app@hikyaku.test>')).code, 250);
  for (const line of [
    'RCPT TO:<a@example.test> NOTIFY=SOMETIMES',
    'RCPT TO:<a@example.test> NOTIFY=NEVER,SUCCESS',
    'RCPT TO:<a@example.test> NOTIFY=',
    'RCPT TO:<a@example.test> NOTIFY=SUCCESS NOTIFY=FAILURE',
    'RCPT TO:<a@example.test> ORCPT=a@orig.test',
    `RCPT TO:<a@example.test> ORCPT=rfc822;${'a'.repeat(494)}`,
  ]) {
    const reply = await c.command(line);
    assert.match(reply.line, /^501 5\.5\.4 /, `${line}: ${reply.line}`);
  }
  await c.quit();
  assert.ok(
    (await relay.metric(METRICS.ingressRefused, { reason: 'badDsnParameter', pool: 'test_dsn' })) >=
      3,
  );
});

test('the parameters of a refused MAIL FROM do not stick to the next one', async () => {
  const c = await client();
  const refused = await c.command(`MAIL FROM:<app@hikyaku.test> RET=HDRS ENVID=${'x'.repeat(101)}`);
  assert.equal(refused.line, '501 5.5.4 Invalid DSN parameter: ENVID longer than 100 characters');
  const envelope = await envelopeOf(
    await c.send('app@hikyaku.test', ['f@example.test'], message('after-refusal')),
  );
  await c.quit();
  assert.equal(envelope.dsn, undefined);
});
