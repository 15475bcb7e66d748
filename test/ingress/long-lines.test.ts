/**
 * Lines over 998 characters in message data (RFC 5322 §2.1.1): refused whole with
 * 554 5.6.0 and never stored, unless HIKYAKU_LONG_LINES=accept passes them on unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { METRICS } from '@hikyaku/core';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, session } from './smtp-client.ts';

let infra: Infra;
let strict: IngressUnderTest;
let accepting: IngressUnderTest;

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('lines', { allowedNetworks: ['127.0.0.0/8'] }));
  strict = await startIngressUnderTest(infra, { pools: ['test_lines'] });
  accepting = await startIngressUnderTest(infra, {
    pools: ['test_lines'],
    env: { HIKYAKU_LONG_LINES: 'accept' },
  });
});

after(async () => {
  await strict?.stop();
  await accepting?.stop();
  await infra?.stop();
});

function withLine(marker: string, length: number): string {
  return `${message(marker)}\r\n${'x'.repeat(length)}\r\nlast line`;
}

test('a line of 999 characters is refused with 554 5.6.0 and nothing is stored', async () => {
  const before = (await infra.envelopes()).length;
  const client = await session({ port: strict.ports.relay as number });
  const refused = await client.send('a@example.test', ['b@example.test'], withLine('long', 999));
  assert.equal(
    refused.line,
    '554 5.6.0 Message contains a line longer than 998 characters, encode it',
  );
  // The session goes on: a message whose lines keep to the limit is accepted.
  const ok = await client.send('a@example.test', ['b@example.test'], withLine('limit', 998));
  assert.match(ok.line, /^250 2\.0\.0 /);
  await client.quit();
  assert.equal((await infra.envelopes()).length, before + 1);
  assert.equal(await strict.metric(METRICS.ingressRefused, { reason: 'lineTooLong' }), 1);
});

test('with HIKYAKU_LONG_LINES=accept the line is passed on unchanged', async () => {
  const client = await session({ port: accepting.ports.relay as number });
  const sent = await client.send('a@example.test', ['b@example.test'], withLine('kept', 5000));
  assert.match(sent.line, /^250 2\.0\.0 Ok: queued as /);
  await client.quit();
  const id = sent.line.split(' ').at(-1) as string;
  const envelope = (await infra.envelopes()).find((e) => e.id === id);
  assert.ok(envelope);
  const body = Buffer.from(await infra.bodies.get(envelope.id, envelope.body));
  assert.ok(body.includes(Buffer.from(`\r\n${'x'.repeat(5000)}\r\n`)));
});
