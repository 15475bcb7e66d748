import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressLiteral, normaliseDomain } from './domain.ts';
import { routeFromStatic, splitHostPort } from './static-routes.ts';

describe('routeFromStatic', () => {
  const routes = [
    { domains: ['*'], host: 'smarthost.example.net:587' },
    { domains: ['Internal.Example.', 'partner.example'], host: 'gw.example.net' },
    { domains: ['partner.example'], host: 'second.example.net' },
  ];

  it('prefers a route naming the domain over the smarthost, whatever their order', () => {
    assert.deepEqual(routeFromStatic(routes, 'partner.example'), {
      host: 'gw.example.net',
      port: 25,
    });
  });

  it('compares domains case-insensitively and ignores a trailing dot', () => {
    assert.deepEqual(routeFromStatic(routes, 'INTERNAL.example.'), {
      host: 'gw.example.net',
      port: 25,
    });
  });

  it('sends every other domain to the smarthost', () => {
    assert.deepEqual(routeFromStatic(routes, 'elsewhere.example'), {
      host: 'smarthost.example.net',
      port: 587,
    });
  });

  it('returns undefined when no route applies', () => {
    assert.equal(routeFromStatic([{ domains: ['a.example'], host: 'x' }], 'b.example'), undefined);
    assert.equal(routeFromStatic([], 'b.example'), undefined);
    assert.equal(routeFromStatic(undefined, 'b.example'), undefined);
  });

  it('matches an internationalised domain in either form', () => {
    const idn = [{ domains: ['bücher.example'], host: 'books.example.net' }];
    assert.equal(routeFromStatic(idn, 'xn--bcher-kva.example')?.host, 'books.example.net');
    assert.equal(routeFromStatic(idn, 'BÜCHER.example')?.host, 'books.example.net');
  });

  it('lets the port field win over a port in the host', () => {
    assert.deepEqual(routeFromStatic([{ domains: ['*'], host: 'relay:2525', port: 26 }], 'x'), {
      host: 'relay',
      port: 26,
    });
  });
});

describe('splitHostPort', () => {
  it('reads host, host:port, [v6]:port and a bare IPv6 address', () => {
    assert.deepEqual(splitHostPort('mx.example'), { host: 'mx.example' });
    assert.deepEqual(splitHostPort('mx.example:2525'), { host: 'mx.example', port: 2525 });
    assert.deepEqual(splitHostPort('[2001:db8::1]:25'), { host: '2001:db8::1', port: 25 });
    assert.deepEqual(splitHostPort('[2001:db8::1]'), { host: '2001:db8::1' });
    assert.deepEqual(splitHostPort('2001:db8::1'), { host: '2001:db8::1' });
  });
});

describe('domain helpers', () => {
  it('normalises case, the trailing dot and IDNs', () => {
    assert.equal(normaliseDomain(' Example.COM. '), 'example.com');
    assert.equal(normaliseDomain('Bücher.example'), 'xn--bcher-kva.example');
    assert.equal(normaliseDomain(''), '');
  });

  it('reads RFC 5321 address literals and nothing else', () => {
    assert.equal(addressLiteral('[192.0.2.1]'), '192.0.2.1');
    assert.equal(addressLiteral('[IPv6:2001:DB8::1]'), '2001:db8::1');
    assert.equal(addressLiteral('[2001:db8::1]'), undefined);
    assert.equal(addressLiteral('[IPv6:192.0.2.1]'), undefined);
    assert.equal(addressLiteral('example.com'), undefined);
  });
});
