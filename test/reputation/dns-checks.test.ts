/**
 * The reputation guard's DNS checks against a real DNS server on loopback (no query leaves
 * 127.0.0.1): listed, not listed, a refused query (127.255.255.x), SERVFAIL and a timeout
 * (unknown, never listed), forward-confirmed reverse DNS passing and failing, and IPv6
 * (nibble-reversed names, ip6.arpa PTR).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dnsblQueryName, ptrName } from '@hikyaku/core/policy';
import { createReputationDns, type ReputationDns } from '@hikyaku/scheduler';
import { startDnsServer, type TestDnsServer } from '@hikyaku/testing';

const ZONE = 'zen.spamhaus.org';
const V6 = '2001:db8:1::25';
let server: TestDnsServer;
let dns: ReputationDns;

before(async () => {
  server = await startDnsServer({
    records: {
      [dnsblQueryName('192.0.2.10', ZONE)]: { a: ['127.0.0.2', '127.0.0.4'] },
      [dnsblQueryName('192.0.2.11', ZONE)]: { a: ['127.255.255.254'] },
      [dnsblQueryName(V6, ZONE)]: { a: ['127.0.0.3'] },
      [ptrName('192.0.2.20')]: { ptr: ['mta20.hikyaku.test'] },
      'mta20.hikyaku.test': { a: ['192.0.2.20'] },
      [ptrName('192.0.2.21')]: { ptr: ['host-21.isp.test'] },
      [ptrName('192.0.2.22')]: { ptr: ['mta22.hikyaku.test'] },
      'mta22.hikyaku.test': { a: ['192.0.2.99'] },
      [ptrName(V6)]: { ptr: ['mta6.hikyaku.test'] },
      'mta6.hikyaku.test': { aaaa: ['2001:db8:1:0::25'] },
    },
    servfail: [dnsblQueryName('192.0.2.12', ZONE)],
    timeout: [dnsblQueryName('192.0.2.13', ZONE), ptrName('192.0.2.23')],
  });
  dns = createReputationDns({ servers: [server.address], timeoutMs: 300 });
});

after(async () => {
  dns?.close();
  await server?.stop();
});

describe('DNSBL checks', () => {
  it('a listed IP is listed, with its codes decoded', async () => {
    const answer = await dns.dnsbl('192.0.2.10', ZONE);
    assert.equal(answer.kind, 'listed');
    assert.deepEqual(answer.kind === 'listed' ? answer.codes : [], ['127.0.0.2', '127.0.0.4']);
    assert.match(answer.kind === 'listed' ? answer.meaning : '', /SBL.*XBL/);
    assert.equal(server.queryCount('10.2.0.192.zen.spamhaus.org', 'A'), 1);
  });

  it('an IP the zone does not know is not listed', async () => {
    assert.deepEqual(await dns.dnsbl('192.0.2.50', ZONE), { kind: 'not-listed' });
  });

  it('a refused query (127.255.255.254) is unknown, not listed', async () => {
    const answer = await dns.dnsbl('192.0.2.11', ZONE);
    assert.equal(answer.kind, 'unknown');
    assert.match(answer.kind === 'unknown' ? answer.why : '', /public or open resolver/);
  });

  it('SERVFAIL and a timeout are unknown, not listed', async () => {
    assert.equal((await dns.dnsbl('192.0.2.12', ZONE)).kind, 'unknown');
    assert.equal((await dns.dnsbl('192.0.2.13', ZONE)).kind, 'unknown');
  });

  it('IPv6 is asked by reversed nibbles', async () => {
    const answer = await dns.dnsbl(V6, ZONE);
    assert.equal(answer.kind, 'listed');
    assert.equal(server.queryCount(dnsblQueryName(V6, ZONE), 'A'), 1);
  });
});

describe('forward-confirmed reverse DNS', () => {
  it('passes when PTR and forward agree', async () => {
    assert.equal((await dns.fcrdns('192.0.2.20', 'mta20.hikyaku.test')).verdict, 'pass');
  });

  it('fails when the PTR names another host, or is missing', async () => {
    const other = await dns.fcrdns('192.0.2.21', 'mta21.hikyaku.test');
    assert.equal(other.verdict, 'mismatch');
    assert.deepEqual(other.names, ['host-21.isp.test']);
    assert.equal((await dns.fcrdns('192.0.2.30', 'mta30.hikyaku.test')).verdict, 'mismatch');
  });

  it('fails when the hostname does not resolve back to the IP', async () => {
    const away = await dns.fcrdns('192.0.2.22', 'mta22.hikyaku.test');
    assert.equal(away.verdict, 'mismatch');
    assert.match(away.detail, /192\.0\.2\.99/);
  });

  it('is unknown when the PTR lookup times out', async () => {
    assert.equal((await dns.fcrdns('192.0.2.23', 'mta23.hikyaku.test')).verdict, 'unknown');
  });

  it('confirms an IPv6 address through ip6.arpa and AAAA, whatever its spelling', async () => {
    assert.equal((await dns.fcrdns(V6, 'mta6.hikyaku.test')).verdict, 'pass');
    assert.equal(server.queryCount('mta6.hikyaku.test', 'AAAA'), 1);
  });
});
