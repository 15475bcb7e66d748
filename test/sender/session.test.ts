/**
 * One SMTP session against real sockets: the failures that happen before any transaction,
 * where they are reported, and what the sender makes of them.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  openSession,
  outcomesForFailure,
  type SmtpFailure,
  shouldTryNextTarget,
} from '@hikyaku/sender';
import { freePort } from '@hikyaku/testing';
import { IP1 } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

const timeouts = {
  connectTimeoutMs: 5000,
  greetingTimeoutMs: 300,
  commandTimeoutMs: 5000,
  dataTimeoutMs: 5000,
  tlsVerify: false,
};

let receiver: Receiver;
let silent: Server;
let silentPort: number;
const silentSockets: Socket[] = [];

before(async () => {
  [receiver] = (await startReceivers(['127.0.5.81'])) as [Receiver];
  silentPort = await freePort('127.0.5.82');
  silent = createServer((socket) => silentSockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(silentPort, '127.0.5.82', resolve));
});

after(async () => {
  for (const socket of silentSockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
  await receiver.close();
});

async function failureOf(promise: Promise<unknown>): Promise<SmtpFailure> {
  try {
    await promise;
  } catch (err) {
    return err as SmtpFailure;
  }
  assert.fail('expected the session to fail');
}

describe('SMTP session', () => {
  it('cannot bind an address that is not on this machine, and nothing is sent', async () => {
    const before = receiver.stats.connections;
    const err = await failureOf(
      openSession(
        {
          localAddress: '192.0.2.1',
          ehloName: 'mta.hikyaku.test',
          host: 'mx.test',
          address: receiver.host,
          port: receiver.port,
        },
        timeouts,
      ),
    );
    assert.equal(err.phase, 'connect');
    assert.equal(err.code, 'EADDRNOTAVAIL');
    assert.equal(shouldTryNextTarget(err), false, 'another host would not help');
    const [outcome] = outcomesForFailure(['a@x.test'], err, { host: 'mx.test' });
    assert.equal(outcome?.errorCode, 'HIKYAKU_SOURCE_IP_ABSENT');
    assert.equal(outcome?.status, 'deferred');
    assert.equal(receiver.stats.connections, before);
  });

  it('gives up on a server that never greets, and the next host is tried', async () => {
    const err = await failureOf(
      openSession(
        {
          localAddress: IP1.address,
          ehloName: IP1.hostname,
          host: 'silent.test',
          address: '127.0.5.82',
          port: silentPort,
        },
        timeouts,
      ),
    );
    assert.equal(err.phase, 'setup');
    assert.equal(err.code, 'ETIMEDOUT');
    assert.equal(shouldTryNextTarget(err), true);
    assert.match(
      outcomesForFailure(['a@x.test'], err, { host: 'silent.test' })[0]?.text ?? '',
      /timed out while setting up/,
    );
  });

  it('EHLOs with the given name from the given address, and quits cleanly', async () => {
    const session = await openSession(
      {
        localAddress: IP1.address,
        ehloName: IP1.hostname,
        host: 'mx.test',
        address: receiver.host,
        port: receiver.port,
      },
      timeouts,
    );
    const result = await session.send(
      { from: 'a@shop.test', to: ['b@x.test'] },
      Buffer.from('Subject: hi\r\n\r\nhello\r\n'),
    );
    assert.deepEqual(result.accepted, ['b@x.test']);
    assert.equal(receiver.messages.at(-1)?.ehlo, IP1.hostname);
    assert.equal(receiver.messages.at(-1)?.peerAddress, IP1.address);
    await session.close();
    assert.equal(session.usable, false);
  });
});
