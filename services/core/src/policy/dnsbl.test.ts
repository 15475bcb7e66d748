import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeDnsblAnswer,
  dnsblQueryName,
  expandIpv6,
  isPublicAddress,
  ptrName,
} from './dnsbl.ts';

describe('DNSBL query names', () => {
  it('reverse the octets of an IPv4 address under the zone', () => {
    assert.equal(dnsblQueryName('192.0.2.99', 'zen.spamhaus.org'), '99.2.0.192.zen.spamhaus.org');
    assert.equal(dnsblQueryName('127.0.0.2', 'bl.example.'), '2.0.0.127.bl.example');
  });

  it('reverse the 32 nibbles of an IPv6 address (RFC 5782 §2.4)', () => {
    assert.equal(
      dnsblQueryName('2001:db8:1:2::7', 'bl.example'),
      '7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example',
    );
    assert.equal(expandIpv6('::1'), `${'0'.repeat(31)}1`);
    assert.equal(expandIpv6('::ffff:192.0.2.1'), '00000000000000000000ffffc0000201');
    assert.equal(expandIpv6('fe80::'), `fe80${'0'.repeat(28)}`);
  });

  it('name the PTR of either family', () => {
    assert.equal(ptrName('203.0.113.5'), '5.113.0.203.in-addr.arpa');
    assert.match(ptrName('2001:db8::1'), /^1\.0\.0\.0\..*\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa$/);
  });
});

describe('DNSBL answers', () => {
  it('NXDOMAIN and NODATA are not listed', () => {
    assert.deepEqual(decodeDnsblAnswer('zen.spamhaus.org', { kind: 'none' }), {
      kind: 'not-listed',
    });
  });

  it('decode the Spamhaus return codes', () => {
    const sbl = decodeDnsblAnswer('zen.spamhaus.org', { kind: 'answer', values: ['127.0.0.2'] });
    assert.equal(sbl.kind, 'listed');
    assert.match(sbl.kind === 'listed' ? sbl.meaning : '', /^SBL/);
    const both = decodeDnsblAnswer('zen.spamhaus.org', {
      kind: 'answer',
      values: ['127.0.0.11', '127.0.0.4'],
    });
    assert.deepEqual(both.kind === 'listed' ? both.codes : [], ['127.0.0.11', '127.0.0.4']);
    assert.match(both.kind === 'listed' ? both.meaning : '', /PBL.*XBL|XBL.*PBL/);
    const other = decodeDnsblAnswer('bl.spamcop.net', { kind: 'answer', values: ['127.0.0.2'] });
    assert.deepEqual(other, {
      kind: 'listed',
      codes: ['127.0.0.2'],
      meaning: 'listed (127.0.0.2)',
    });
  });

  it('127.255.255.x is a refused query: unknown, never listed', () => {
    for (const code of ['127.255.255.252', '127.255.255.254', '127.255.255.255']) {
      const answer = decodeDnsblAnswer('zen.spamhaus.org', { kind: 'answer', values: [code] });
      assert.equal(answer.kind, 'unknown', code);
    }
    const public_ = decodeDnsblAnswer('zen.spamhaus.org', {
      kind: 'answer',
      values: ['127.255.255.254'],
    });
    assert.match(public_.kind === 'unknown' ? public_.why : '', /public or open resolver/);
    // A refusal next to a listing makes the listing untrustworthy.
    const mixed = decodeDnsblAnswer('zen.spamhaus.org', {
      kind: 'answer',
      values: ['127.0.0.2', '127.255.255.255'],
    });
    assert.equal(mixed.kind, 'unknown');
  });

  it('answers outside 127.0.0.0/8 and 127.0.0.1 are unknown; DNS errors too', () => {
    for (const values of [['198.51.100.7'], ['127.0.0.1']]) {
      assert.equal(
        decodeDnsblAnswer('b.barracudacentral.org', { kind: 'answer', values }).kind,
        'unknown',
      );
    }
    for (const code of ['ETIMEOUT', 'ESERVFAIL', 'EREFUSED']) {
      const answer = decodeDnsblAnswer('bl.spamcop.net', { kind: 'error', code });
      assert.equal(answer.kind, 'unknown');
    }
  });
});

describe('public addresses', () => {
  it('loopback, private, shared, documentation and link-local are not public', () => {
    for (const a of [
      '127.0.0.2',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '198.51.100.7',
      '203.0.113.1',
      '169.254.0.1',
      '::1',
      'fd00::1',
      'fe80::1',
      '2001:db8::5',
    ]) {
      assert.equal(isPublicAddress(a), false, a);
    }
    for (const a of ['8.8.8.8', '195.54.0.1', '2a01:4f8::1'])
      assert.equal(isPublicAddress(a), true, a);
  });
});
