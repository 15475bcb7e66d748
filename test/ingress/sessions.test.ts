/**
 * Sessions: the concurrency limit (421 4.3.2 above it), the idle and the total session
 * time limits (slow clients cannot hold a session), and the graceful shutdown of the
 * service: stop accepting, let a message in progress finish, 421 4.3.2 to the rest, then
 * drain NATS.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
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

before(async () => {
  infra = await startInfra();
  await infra.publish(await testPool('sessions', { allowedNetworks: ['127.0.0.0/8'] }));
  limited = await startIngressUnderTest(infra, {
    pools: ['test_sessions'],
    env: {
      HIKYAKU_MAX_CLIENTS: '3',
      HIKYAKU_SOCKET_TIMEOUT_MS: '1000',
      HIKYAKU_SESSION_TIMEOUT_MS: '2500',
    },
  });
});

after(async () => {
  await limited?.stop();
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

test('a session that keeps talking is still closed at the session time limit', async () => {
  const client = await session({ port: limited.ports.relay as number });
  const ended = until421(client);
  let open = true;
  ended.finally(() => {
    open = false;
  });
  while (open) {
    client.write('NOOP\r\n');
    await sleep(300);
  }
  assert.equal(await ended, '421 4.4.2 Session time limit reached');
  await client.closed;
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
