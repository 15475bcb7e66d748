/**
 * SMTP smuggling (CVE-2023-51764 family): message data carrying a non-CRLF end-of-data
 * sequence followed by SMTP commands must be refused as one message, never split into two,
 * and no bare line end may reach the queue to be read differently further down. The
 * end-to-end check that the receiver never sees a second message is in relay-e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { type SmtpClient, session } from './smtp-client.ts';

let infra: Infra;
let strict: IngressUnderTest;
let lenient: IngressUnderTest;

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('smuggle', { allowedNetworks: ['127.0.0.0/8'] }));
  strict = await startIngressUnderTest(infra, { pools: ['test_smuggle'] });
  lenient = await startIngressUnderTest(infra, {
    pools: ['test_smuggle'],
    env: { HIKYAKU_BARE_LINE_ENDS: 'normalize' },
  });
});

after(async () => {
  await strict?.stop();
  await lenient?.stop();
  await infra?.stop();
});

/** The end-of-data look-alikes receivers have been found to accept. */
export const END_OF_DATA_VARIANTS = [
  '\n.\n',
  '\r.\r',
  '\r\n.\n',
  '\n.\r\n',
  '\r.\r\n',
  '\r\n.\r',
  '\n.\r',
  '\r.\n',
  '\r\n\n.\n',
  '\r\n\x00.\r\n',
];

const SMUGGLED =
  'MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<target@example.test>\r\nDATA\r\n' +
  'From: <ceo@victim.example>\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n';

/** A message carrying a variant and smuggled commands; the real terminator is not included. */
function payload(variant: string): Buffer {
  return Buffer.from(
    `From: <a@example.test>\r\nSubject: carrier\r\n\r\ncarrier body${variant}${SMUGGLED}`,
    'latin1',
  );
}

async function open(relay: IngressUnderTest): Promise<SmtpClient> {
  return session({ port: relay.ports.relay as number });
}

test('every non-CRLF end-of-data variant is refused as one message', async () => {
  const before = (await infra.envelopes()).length;
  const client = await open(strict);
  for (const variant of END_OF_DATA_VARIANTS) {
    assert.equal((await client.command('MAIL FROM:<a@example.test>')).code, 250);
    assert.equal((await client.command('RCPT TO:<b@example.test>')).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    client.write(payload(variant));
    client.write('\r\n.\r\n');
    const reply = await client.read();
    assert.equal(reply.code, 554, `${JSON.stringify(variant)}: ${reply.line}`);
    assert.match(reply.line, /^554 5\.5\.2 /);
    // The next reply answers the next command: nothing in the data ran as a command.
    assert.equal((await client.command('NOOP')).code, 250, JSON.stringify(variant));
  }
  await client.quit();
  assert.equal((await infra.envelopes()).length, before);
});

test('the refusal names smuggling; a plain bare LF is refused as such', async () => {
  const client = await open(strict);
  const smuggling = await client.send('a@example.test', ['b@example.test'], payload('\n.\n'));
  assert.equal(smuggling.line, '554 5.5.2 Message contains a non-CRLF end-of-data sequence');
  const bare = await client.send(
    'a@example.test',
    ['b@example.test'],
    'Subject: unix\n\nline one\nline two',
  );
  assert.equal(bare.line, '554 5.5.2 Message contains a bare CR or LF, end lines with CRLF');
  await client.quit();
});

test('a pipelined clean message after a refused one is accepted', async () => {
  const client = await open(strict);
  client.write('MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n');
  assert.equal((await client.read()).code, 250);
  assert.equal((await client.read()).code, 250);
  assert.equal((await client.read()).code, 354);
  client.write(payload('\r.\r'));
  client.write('\r\n.\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n');
  assert.equal((await client.read()).code, 554);
  assert.equal((await client.read()).code, 250);
  assert.equal((await client.read()).code, 250);
  assert.equal((await client.read()).code, 354);
  client.write('Subject: clean\r\n\r\nclean\r\n.\r\n');
  assert.match((await client.read()).line, /^250 2\.0\.0 Ok: queued as /);
  await client.quit();
});

test('normalize mode stores bare line ends as CRLF but still refuses smuggling', async () => {
  const client = await open(lenient);
  const accepted = await client.send(
    'a@example.test',
    ['b@example.test'],
    'Subject: unix\n\nline one\nline two\rline three',
  );
  const id = /queued as (\S+)/.exec(accepted.line)?.[1];
  assert.ok(id, accepted.line);
  const envelope = (await infra.envelopes()).find((e) => e.id === id);
  assert.ok(envelope);
  const body = Buffer.from(await infra.bodies.get(id, envelope.body)).toString('latin1');
  assert.ok(body.endsWith('Subject: unix\r\n\r\nline one\r\nline two\r\nline three\r\n'), body);
  assert.equal(/[^\r]\n|\r[^\n]/.test(body), false, 'a bare line end was stored');
  for (const variant of END_OF_DATA_VARIANTS.slice(0, 8)) {
    const reply = await client.send('a@example.test', ['b@example.test'], payload(variant));
    assert.equal(reply.code, 554, JSON.stringify(variant));
  }
  await client.quit();
});
