/**
 * Egress mode gateway: the pool's IP is not on the pod (a gateway translates the pod's
 * traffic to it), so the sender neither checks for it nor binds to it, and still EHLOs with
 * the IP's hostname. The same IP in a pool without a gateway is deferred as absent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

/** TEST-NET-1 (RFC 5737): certainly not an address of this machine. */
const BEHIND_GATEWAY = { address: '192.0.2.60', hostname: 'mta60.hikyaku.test' };

let receiver: Receiver;
let fixture: SenderFixture;

before(async () => {
  [receiver] = (await startReceivers(['127.0.5.61'])) as [Receiver];
  fixture = await startSenderFixture({
    spec: {
      egress: { mode: 'gateway' },
      ips: [BEHIND_GATEWAY],
      routes: [{ domains: ['gateway.test'], host: `${receiver.host}:${receiver.port}` }],
    },
  });
});

after(async () => {
  await fixture?.stop();
  await receiver?.close();
});

describe('a sender behind an egress gateway', () => {
  it('delivers from the pod address with the IP hostname instead of deferring', async () => {
    const job = await fixture.submit({ rcpts: ['a@gateway.test'], ip: BEHIND_GATEWAY.address });
    const result = await fixture.result(job);
    assert.deepEqual(
      result.outcomes.map((o) => o.status),
      ['delivered'],
      JSON.stringify(result.outcomes),
    );
    const [seen] = receiver.messages;
    assert.equal(seen?.ehlo, BEHIND_GATEWAY.hostname);
    // Unbound, the connection to a loopback receiver leaves from loopback.
    assert.match(seen?.peerAddress ?? '', /^127\./);
    assert.notEqual(seen?.peerAddress, BEHIND_GATEWAY.address);
  });
});
