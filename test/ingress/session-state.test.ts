/**
 * What a session holds is given back when it ends, however it ends: its client's session
 * slot (421 4.7.0 above it), the bytes set aside for its message (452 4.3.1 when the
 * bound is reached) and its place among the active sessions; a connection refused at the
 * greeting gives back nothing it did not take. The session time limit still reaches a
 * session in a transaction, which then ends after the reply to its message.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { METRICS } from '@hikyaku/core';
import { sleep, waitFor } from '@hikyaku/testing';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, SmtpClient, session } from './smtp-client.ts';

let infra: Infra;
let oneEach: IngressUnderTest;
let shortSessions: IngressUnderTest;

const BUDGET = 1024 * 1024;
const CLIENT_LIMIT = '421 4.7.0 Too many concurrent sessions from your address, try again later';

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('state', { allowedNetworks: ['127.0.0.0/24'] }));
  oneEach = await startIngressUnderTest(infra, {
    pools: ['test_state'],
    env: {
      // One session at a time per client, trusted ones included, and a small byte budget.
      HIKYAKU_CLIENT_MAX_SESSIONS_RELAY: '1',
      HIKYAKU_TRUSTED_CLIENT_MAX_SESSIONS_RELAY: '1',
      HIKYAKU_MAX_INFLIGHT_BYTES: String(BUDGET),
    },
  });
  shortSessions = await startIngressUnderTest(infra, {
    pools: ['test_state'],
    env: {
      HIKYAKU_SESSION_TIMEOUT_MS: '1000',
      // The grace a transaction gets past the session limit: longer than any test runs, so
      // only the end of the transaction can end this session.
      HIKYAKU_SOCKET_TIMEOUT_MS: '3600000',
    },
  });
});

after(async () => {
  await oneEach?.stop();
  await shortSessions?.stop();
  await infra?.stop();
});

async function greeting(port: number, localAddress: string): Promise<string> {
  const { client, greeting } = await SmtpClient.open({ port, localAddress });
  if (greeting.code === 220) await client.quit();
  else await client.closed;
  return greeting.line;
}

/** Opens a session once the client's slot is free again. */
async function sessionWhenFree(port: number, localAddress: string): Promise<SmtpClient> {
  return waitFor('the client slot given back', async () => {
    const { client, greeting } = await SmtpClient.open({ port, localAddress });
    if (greeting.code === 220) {
      await client.ehlo();
      return client;
    }
    await client.closed;
    return undefined;
  });
}

test('a client slot is given back at QUIT, and refused connections take none', async () => {
  const port = oneEach.ports.relay as number;
  const address = '127.0.0.21';
  const first = await session({ port, localAddress: address });
  assert.equal(await greeting(port, address), CLIENT_LIMIT);
  assert.equal(await greeting(port, address), CLIENT_LIMIT);
  await first.quit();
  const second = await sessionWhenFree(port, address);
  // Had the refused connections given back a slot they never held, this one would be let in.
  assert.equal(await greeting(port, address), CLIENT_LIMIT);
  await second.quit();
  await waitFor('no active session', async () =>
    (await oneEach.metric(METRICS.ingressActiveSessions, { listener: 'relay' })) === 0
      ? true
      : undefined,
  );
});

test('a session destroyed mid-DATA gives back its client slot and its bytes', async () => {
  const port = oneEach.ports.relay as number;
  const address = '127.0.0.22';
  const declared = BUDGET - 64 * 1024;
  const cut = await session({ port, localAddress: address });
  assert.equal((await cut.command(`MAIL FROM:<a@example.test> SIZE=${declared}`)).code, 250);
  assert.equal((await cut.command('RCPT TO:<b@example.test>')).code, 250);
  assert.equal((await cut.command('DATA')).code, 354);
  cut.write(message('cut').slice(0, 200));
  assert.equal(await oneEach.metric(METRICS.ingressInflightBytes), declared);
  // While it holds them, another client cannot set the same bytes aside.
  const other = await session({ port, localAddress: '127.0.0.23' });
  const crowded = await other.command(`MAIL FROM:<a@example.test> SIZE=${declared}`);
  assert.equal(crowded.line, '452 4.3.1 Insufficient system storage, try again later');

  cut.close();
  await cut.closed;
  await waitFor('the bytes given back', async () =>
    (await oneEach.metric(METRICS.ingressInflightBytes)) === 0 ? true : undefined,
  );
  assert.equal((await other.command(`MAIL FROM:<a@example.test> SIZE=${declared}`)).code, 250);
  await other.command('RSET');
  const again = await sessionWhenFree(port, address);
  const sent = await again.send('a@example.test', ['b@example.test'], message('after-cut'));
  assert.match(sent.line, /^250 2\.0\.0 Ok: queued as /);
  await again.quit();
  await other.quit();
  assert.equal(await oneEach.metric(METRICS.ingressInflightBytes), 0);
});

test('a session in a transaction at its time limit ends after the reply to its message', async () => {
  const client = await session({ port: shortSessions.ports.relay as number });
  assert.equal((await client.command('MAIL FROM:<a@example.test>')).code, 250);
  assert.equal((await client.command('RCPT TO:<b@example.test>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  const body = message('at-the-limit');
  client.write(body.slice(0, 40));
  // Well past the session time limit, within the grace of its transaction.
  await sleep(3000);
  client.write(`${body.slice(40)}\r\n.\r\n`);
  const accepted = await client.read();
  assert.match(accepted.line, /^250 2\.0\.0 Ok: queued as /);
  assert.equal((await client.read()).line, '421 4.4.2 Session time limit reached');
  await client.closed;
  const stored = new Set((await infra.envelopes()).map((e) => e.id));
  assert.ok(stored.has(accepted.line.split(' ').at(-1) as string), accepted.line);
});
