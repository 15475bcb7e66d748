/**
 * IPv6 end to end: a pool IP that is an IPv6 address sends over IPv6, to the AAAA address of
 * an MX that has both families, while an IPv4 pool IP reaches the same MX over its A record.
 * A source of one family never tries an address of the other (it could not bind): mail whose
 * hosts have only the other family waits for an IP of the pool that has it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '@hikyaku/testing';
import { IP1, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

/** The one IPv6 loopback address. */
const IP6 = { address: '::1', hostname: 'mta6.hikyaku.test' };
const MX_V4 = '127.0.5.31';

let dns: TestDnsServer;
let v6: Receiver;
let v4: Receiver;
let fixture: SenderFixture;

before(async () => {
  [v6, v4] = (await startReceivers([IP6.address, MX_V4])) as [Receiver, Receiver];
  dns = await startDnsServer({
    records: {
      'dual.test': { mx: [{ preference: 10, exchange: 'mx.dual.test' }] },
      'mx.dual.test': { a: [MX_V4], aaaa: [IP6.address] },
      'v6only.test': { mx: [{ preference: 10, exchange: 'mx.v6only.test' }] },
      'mx.v6only.test': { aaaa: [IP6.address] },
    },
  });
  fixture = await startSenderFixture({
    spec: { ips: [IP1, IP6] },
    env: { HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(v6.port) },
  });
});

after(async () => {
  await fixture?.stop();
  await dns?.stop();
  await v6?.close();
  await v4?.close();
});

describe('IPv6 source addresses', () => {
  it('sends from the IPv6 address over IPv6 and EHLOs with its hostname', async () => {
    const job = await fixture.submit({ rcpts: ['six@dual.test'], ip: IP6.address });
    const outcome = (await fixture.result(job)).outcomes[0];
    assert.equal(outcome?.status, 'delivered', JSON.stringify(outcome));
    const seen = v6.messages.find((m) => m.rcpts.includes('six@dual.test'));
    assert.ok(seen, 'the IPv6 receiver got the message');
    assert.equal(seen.peerAddress, IP6.address);
    assert.equal(seen.ehlo, IP6.hostname);
  });

  it('sends from the IPv4 address of the same pool to the A record', async () => {
    const job = await fixture.submit({ rcpts: ['four@dual.test'], ip: IP1.address });
    assert.equal((await fixture.result(job)).outcomes[0]?.status, 'delivered');
    const seen = v4.messages.find((m) => m.rcpts.includes('four@dual.test'));
    assert.ok(seen, 'the IPv4 receiver got the message');
    assert.equal(seen.peerAddress, IP1.address);
    assert.equal(seen.ehlo, IP1.hostname);
  });

  it('defers an IPv4 attempt to an IPv6-only MX, for the pool IPv6 address to deliver', async () => {
    const connections = v6.stats.connections;
    const fromV4 = await fixture.submit({ rcpts: ['later@v6only.test'], ip: IP1.address });
    const deferred = (await fixture.result(fromV4)).outcomes[0];
    assert.equal(deferred?.status, 'deferred', JSON.stringify(deferred));
    assert.equal(deferred?.code, 451);
    assert.equal(deferred?.errorCode, 'HIKYAKU_NO_ADDRESS_OF_FAMILY');
    assert.equal(v6.stats.connections, connections, 'no connection across families');
    const fromV6 = await fixture.submit({ rcpts: ['later@v6only.test'], ip: IP6.address });
    assert.equal((await fixture.result(fromV6)).outcomes[0]?.status, 'delivered');
  });
});
