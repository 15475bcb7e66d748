import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Interfaces, isLocalAddress } from './source-address.ts';

/** The shape os.networkInterfaces() returns on a Linux pod with one extra address. */
const POD: Interfaces = {
  lo: [
    {
      address: '127.0.0.1',
      netmask: '255.0.0.0',
      family: 'IPv4',
      mac: '00:00:00:00:00:00',
      internal: true,
      cidr: '127.0.0.1/8',
    },
    {
      address: '::1',
      netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      family: 'IPv6',
      mac: '00:00:00:00:00:00',
      internal: true,
      cidr: '::1/128',
      scopeid: 0,
    },
  ],
  eth0: [
    {
      address: '203.0.113.10',
      netmask: '255.255.255.0',
      family: 'IPv4',
      mac: '02:42:ac:11:00:02',
      internal: false,
      cidr: '203.0.113.10/24',
    },
    {
      address: '2001:db8::10',
      netmask: 'ffff:ffff:ffff:ffff::',
      family: 'IPv6',
      mac: '02:42:ac:11:00:02',
      internal: false,
      cidr: '2001:db8::10/64',
      scopeid: 0,
    },
  ],
};

describe('isLocalAddress', () => {
  it('finds addresses configured on an interface', () => {
    assert.equal(isLocalAddress('203.0.113.10', POD), true);
    assert.equal(isLocalAddress('2001:DB8::10', POD), true);
    assert.equal(isLocalAddress('::ffff:203.0.113.10', POD), true);
  });

  it('counts every address of the loopback network, which Linux lists as 127.0.0.1/8', () => {
    assert.equal(isLocalAddress('127.0.0.2', POD), true);
    assert.equal(isLocalAddress('127.255.0.9', POD), true);
    assert.equal(isLocalAddress('::1', POD), true);
  });

  it('refuses an address merely inside the network of another interface, or anywhere else', () => {
    assert.equal(isLocalAddress('203.0.113.11', POD), false);
    assert.equal(isLocalAddress('192.0.2.1', POD), false);
    assert.equal(isLocalAddress('2001:db8::11', POD), false);
    assert.equal(isLocalAddress('not-an-ip', POD), false);
  });

  it('refuses loopback addresses when loopback is only 127.0.0.1/32', () => {
    const lo = POD.lo?.[0];
    assert.ok(lo);
    const narrow: Interfaces = {
      lo: [{ ...lo, netmask: '255.255.255.255', cidr: '127.0.0.1/32' }],
    };
    assert.equal(isLocalAddress('127.0.0.1', narrow), true);
    assert.equal(isLocalAddress('127.0.0.2', narrow), false);
  });
});
