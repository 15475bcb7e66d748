/**
 * Sessions: the concurrency limit (421 4.3.2 above it), the per-client session and
 * connection-rate limits (421 4.7.0), the idle and the total session time limits (slow
 * clients cannot hold a session, NOOP is not activity), and the graceful shutdown of the
 * service: stop accepting, let a message in progress finish, 421 4.3.2 to the rest, then
 * drain NATS.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { METRICS } from '@hikyaku/core';
import { runIngress } from '@hikyaku/ingress';
import { freePort, sleep, waitFor } from '@hikyaku/testing';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, SmtpClient, session } from './smtp-client.ts';

let infra: Infra;
let limited: IngressUnderTest;
let perClient: IngressUnderTest;

// Clients from 127.0.0.x are inside the pool's allowedNetworks; from 127.0.1.x they are not.
const STRANGER = '127.0.1.1';

before(async () => {
  infra = await startInfra();
  await infra.publish(
    await testPool(
      'sessions',
      { allowedNetworks: ['127.0.0.0/24'], submitters: [{ username: 'app' }] },
      { app: 'app-password' },
    ),
  );
  limited = await startIngressUnderTest(infra, {
    pools: ['test_sessions'],
    env: {
      HIKYAKU_MAX_CLIENTS: '3',
      HIKYAKU_SOCKET_TIMEOUT_MS: '1000',
      HIKYAKU_SESSION_TIMEOUT_MS: '2500',
    },
  });
  perClient = await startIngressUnderTest(infra, {
    pools: ['test_sessions'],
    env: {
      HIKYAKU_LISTENERS: 'relay,submission',
      HIKYAKU_ALLOW_INSECURE_AUTH: 'true',
      // The default session limit (50) on both; the rate apart per listener.
      HIKYAKU_CLIENT_MAX_CONNECTIONS_PER_MINUTE_RELAY: '1000',
      HIKYAKU_CLIENT_MAX_CONNECTIONS_PER_MINUTE_SUBMISSION: '3',
      // Long enough that a command written with the connection surely arrives within it.
      HIKYAKU_EARLY_TALKER_PAUSE_MS: '1000',
    },
  });
});

after(async () => {
  await limited?.stop();
  await perClient?.stop();
  await infra?.stop();
});

/** Reads replies until a 421 arrives; fails if the connection closes without one. */
async function until421(client: SmtpClient): Promise<string> {
  for (;;) {
    const reply = await client.read();
    if (reply.code === 421) return reply.line;
  }
}

test('sessions above the limit get 421 4.3.2; a freed slot is given again', async () => {
  const port = limited.ports.relay as number;
  const open = [await session({ port }), await session({ port }), await session({ port })];
  const refused = await SmtpClient.open({ port });
  assert.equal(refused.greeting.line, '421 4.3.2 Too many concurrent sessions, try again later');
  await refused.client.closed;
  await open[0]?.quit();
  const next = await waitFor('a free slot', async () => {
    const attempt = await SmtpClient.open({ port });
    if (attempt.greeting.code === 220) return attempt.client;
    attempt.client.close();
    return undefined;
  });
  for (const client of [next, open[1], open[2]]) await client?.quit();
});

test('an idle session is closed with 421 4.4.2', async () => {
  const client = await session({ port: limited.ports.relay as number });
  const reply = await client.read();
  assert.equal(reply.code, 421);
  assert.match(reply.line, /^421 4\.4\.2 /);
  await client.closed;
});

/** Sends `command` every 300 ms until the session gets a 421; that reply. */
async function keepSending(client: SmtpClient, command: string): Promise<string> {
  const ended = until421(client);
  let open = true;
  ended.finally(() => {
    open = false;
  });
  while (open) {
    client.write(`${command}\r\n`);
    await sleep(300);
  }
  return ended;
}

test('a session that keeps talking is still closed at the session time limit', async () => {
  const client = await session({ port: limited.ports.relay as number });
  assert.equal(await keepSending(client, 'RSET'), '421 4.4.2 Session time limit reached');
  await client.closed;
});

test('NOOP is not activity: a session sending only NOOPs is closed as idle', async () => {
  const client = await session({ port: limited.ports.relay as number });
  // Before the session time limit, which the NOOPs alone used to reach.
  assert.equal(await keepSending(client, 'NOOP'), '421 4.4.2 Timeout - closing connection');
  await client.closed;
  assert.ok((await limited.metric(METRICS.ingressRefused, { reason: 'idleTimeout' })) >= 1);
});

test('400 idle connections from one address are capped at 50 and stop no other client', async () => {
  const port = perClient.ports.relay as number;
  const flood = await Promise.all(
    Array.from({ length: 400 }, () => SmtpClient.open({ port, localAddress: STRANGER })),
  );
  const greeted = flood.filter((f) => f.greeting.code === 220);
  const refused = flood.filter((f) => f.greeting.code !== 220);
  try {
    assert.equal(greeted.length, 50);
    assert.deepEqual(
      [...new Set(refused.map((f) => f.greeting.line))],
      ['421 4.7.0 Too many concurrent sessions from your address, try again later'],
    );
    assert.equal(
      await perClient.metric(METRICS.ingressRefused, {
        reason: 'clientSessionLimit',
        listener: 'relay',
      }),
      350,
    );
    // Another client outside allowedNetworks still gets a session, and one inside relays.
    const other = await session({ port, localAddress: '127.0.1.2' });
    await other.quit();
    const app = await session({ port, localAddress: '127.0.0.7' });
    const sent = await app.send('app@hikyaku.test', ['to@example.test'], message('per-client'));
    assert.match(sent.line, /^250 2\.0\.0 /);
    await app.quit();
  } finally {
    for (const { client } of flood) client.close();
  }
});

test('new connections per minute are limited per client and listener; AUTH lifts the limit', async () => {
  const port = perClient.ports.submission as number;
  for (let i = 0; i < 3; i++) await (await session({ port, localAddress: '127.0.1.3' })).quit();
  const over = await SmtpClient.open({ port, localAddress: '127.0.1.3' });
  assert.equal(
    over.greeting.line,
    '421 4.7.0 Too many connections from your address, try again later',
  );
  await over.client.closed;
  // The relay listener has its own (higher) rate.
  await (
    await session({ port: perClient.ports.relay as number, localAddress: '127.0.1.3' })
  ).quit();

  // A client that authenticated opens connections at the trusted rate (none by default).
  const first = await session({ port, localAddress: '127.0.1.4' });
  assert.equal((await first.authPlain('app', 'app-password')).code, 235);
  for (let i = 0; i < 5; i++) await (await session({ port, localAddress: '127.0.1.4' })).quit();
  await first.quit();
});

test('only untrusted clients of the relay listener are paused before the greeting', async () => {
  const early = 'EHLO early.hikyaku.test\r\n';
  // Inside allowedNetworks: greeted at once, so a command sent with the connection is
  // answered as if the client had waited.
  const trusted = await SmtpClient.open({
    port: perClient.ports.relay as number,
    localAddress: '127.0.0.8',
    beforeGreeting: early,
  });
  assert.equal(trusted.greeting.code, 220);
  assert.equal((await trusted.client.read()).code, 250);
  assert.equal((await trusted.client.command('QUIT')).code, 221);

  // Any client of the submission listener must authenticate before it can relay.
  const submitter = await SmtpClient.open({
    port: perClient.ports.submission as number,
    localAddress: '127.0.1.5',
    beforeGreeting: early,
  });
  assert.equal(submitter.greeting.code, 220);
  assert.equal((await submitter.client.read()).code, 250);
  assert.equal((await submitter.client.command('QUIT')).code, 221);

  // A stranger on the relay listener that talks before the greeting is refused.
  const stranger = await SmtpClient.open({
    port: perClient.ports.relay as number,
    localAddress: '127.0.1.6',
    beforeGreeting: early,
  });
  assert.match(stranger.greeting.line, /^421 .*You talk too soon/);
  stranger.client.close();
});

test('a client trickling its message is cut off without a 250 and nothing is stored', async () => {
  const before = (await infra.envelopes()).length;
  const client = await session({ port: limited.ports.relay as number });
  assert.equal((await client.command('MAIL FROM:<a@example.test>')).code, 250);
  assert.equal((await client.command('RCPT TO:<b@example.test>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  const ended = until421(client);
  let open = true;
  ended.finally(() => {
    open = false;
  });
  const body = message('slow');
  for (let i = 0; open && i < body.length; i++) {
    client.write(body[i] as string);
    await sleep(250);
  }
  assert.equal(await ended, '421 4.4.2 Session time limit reached');
  await client.closed;
  assert.equal((await infra.envelopes()).length, before);
});

test('shutdown: no new sessions, the message in progress is stored, 421 4.3.2 to the rest', async () => {
  const port = await freePort();
  const service = await runIngress(
    {
      NATS_URL: infra.natsUrl,
      REDIS_URL: infra.redisUrl,
      HIKYAKU_SMTP_HOST: '127.0.0.1',
      HIKYAKU_SMTP_PORT: String(port),
      HIKYAKU_HTTP_HOST: '127.0.0.1',
      HIKYAKU_HTTP_PORT: '0',
      HIKYAKU_LOG_LEVEL: 'silent',
      HIKYAKU_DRAIN_TIMEOUT_MS: '10000',
      HIKYAKU_SHUTDOWN_GRACE_MS: '20000',
    },
    { handleSignals: false },
  );
  // The pool policy arrives through the KV watch shortly after start.
  const sending = await waitFor('the pool policy', async () => {
    const client = await session({ port });
    await client.command('MAIL FROM:<a@example.test>');
    if ((await client.command('RCPT TO:<b@example.test>')).code === 250) return client;
    await client.quit();
    return undefined;
  });
  assert.equal((await sending.command('DATA')).code, 354);
  const body = message('in-flight');
  sending.write(body.slice(0, 40));
  const idle = await session({ port });

  const stopped = service.lifecycle.shutdown('test');
  assert.equal((await idle.read()).line, '421 4.3.2 Service shutting down, try again later');
  await idle.closed;
  await waitFor(
    'the listener to stop accepting',
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.once('error', () => resolve(true));
        socket.once('connect', () => {
          socket.destroy();
          resolve(false);
        });
      }),
  );

  sending.write(`${body.slice(40)}\r\n.\r\n`);
  const accepted = await sending.read();
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(accepted.line)?.[1];
  assert.ok(id, accepted.line);
  assert.equal((await sending.read()).line, '421 4.3.2 Service shutting down, try again later');
  await sending.closed;
  await stopped;
  assert.equal(service.nats.nc.isClosed(), true, 'NATS is drained last');
  assert.ok(
    (await infra.envelopes()).some((e) => e.id === id),
    'the in-flight message is stored',
  );
});
