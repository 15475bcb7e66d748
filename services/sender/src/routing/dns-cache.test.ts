import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDnsCache } from './dns-cache.ts';
import type { DnsAnswer, DnsClient } from './dns-client.ts';
import { DnsLookupError } from './errors.ts';
import type { MxRecord } from './mx-order.ts';

interface FakeDns extends DnsClient {
  calls: string[];
  answers: Map<string, DnsAnswer<unknown> | Error>;
  closed: boolean;
}

function fakeDns(): FakeDns {
  const calls: string[] = [];
  const answers = new Map<string, DnsAnswer<unknown> | Error>();
  const answer = async <T>(type: string, name: string): Promise<DnsAnswer<T>> => {
    calls.push(`${type} ${name}`);
    const found = answers.get(`${type} ${name}`) ?? { kind: 'nxdomain' };
    if (found instanceof Error) throw found;
    return found as DnsAnswer<T>;
  };
  const dns: FakeDns = {
    calls,
    answers,
    closed: false,
    mx: (name) => answer<MxRecord>('MX', name),
    a: (name) => answer<string>('A', name),
    aaaa: (name) => answer<string>('AAAA', name),
    txt: (name) => answer<string>('TXT', name),
    close() {
      dns.closed = true;
    },
  };
  return dns;
}

function fakeClock() {
  return {
    t: 1_000_000,
    now() {
      return this.t;
    },
  };
}

describe('DNS cache', () => {
  it('keeps an answer for its TTL', async () => {
    const dns = fakeDns();
    const clock = fakeClock();
    dns.answers.set('A mx.example', { kind: 'records', records: ['192.0.2.1'], ttl: 30 });
    const cache = createDnsCache(dns, { clock });

    await cache.a('mx.example');
    clock.t += 29_999;
    assert.deepEqual(await cache.a('MX.example.'), {
      kind: 'records',
      records: ['192.0.2.1'],
      ttl: 30,
    });
    assert.equal(dns.calls.length, 1);
    clock.t += 1;
    await cache.a('mx.example');
    assert.equal(dns.calls.length, 2);
  });

  it('keeps an answer without a TTL for the default time, and caps long TTLs', async () => {
    const dns = fakeDns();
    const clock = fakeClock();
    dns.answers.set('MX example', { kind: 'records', records: [{ exchange: 'mx', priority: 1 }] });
    dns.answers.set('A example', { kind: 'records', records: ['192.0.2.1'], ttl: 86_400 });
    const cache = createDnsCache(dns, { clock, defaultTtlSeconds: 60, maxTtlSeconds: 120 });

    await cache.mx('example');
    await cache.a('example');
    clock.t += 59_000;
    await cache.mx('example');
    assert.equal(dns.calls.length, 2);
    clock.t += 1_000;
    await cache.mx('example');
    assert.equal(dns.calls.length, 3);
    clock.t += 60_000;
    await cache.a('example');
    assert.deepEqual(dns.calls.slice(3), ['A example']);
  });

  it('keeps NODATA and NXDOMAIN for the negative TTL', async () => {
    const dns = fakeDns();
    const clock = fakeClock();
    dns.answers.set('AAAA example', { kind: 'nodata' });
    const cache = createDnsCache(dns, { clock, negativeTtlSeconds: 10 });

    assert.deepEqual(await cache.aaaa('example'), { kind: 'nodata' });
    assert.deepEqual(await cache.mx('gone.example'), { kind: 'nxdomain' });
    clock.t += 9_000;
    await cache.aaaa('example');
    await cache.mx('gone.example');
    assert.equal(dns.calls.length, 2);
    clock.t += 1_000;
    await cache.aaaa('example');
    await cache.mx('gone.example');
    assert.equal(dns.calls.length, 4);
  });

  it('does not keep failures or zero TTLs', async () => {
    const dns = fakeDns();
    const clock = fakeClock();
    dns.answers.set('MX example', new DnsLookupError('MX', 'example', 'ESERVFAIL'));
    dns.answers.set('A example', { kind: 'records', records: ['192.0.2.1'], ttl: 0 });
    const cache = createDnsCache(dns, { clock });

    await assert.rejects(cache.mx('example'), DnsLookupError);
    await assert.rejects(cache.mx('example'), DnsLookupError);
    await cache.a('example');
    await cache.a('example');
    assert.equal(dns.calls.length, 4);
  });

  it('shares one query between concurrent lookups of the same question', async () => {
    const dns = fakeDns();
    dns.answers.set('A example', { kind: 'records', records: ['192.0.2.1'], ttl: 30 });
    const cache = createDnsCache(dns, { clock: fakeClock() });

    const answers = await Promise.all([
      cache.a('example'),
      cache.a('EXAMPLE'),
      cache.aaaa('example'),
    ]);
    assert.equal(answers[0], answers[1]);
    assert.deepEqual(dns.calls, ['A example', 'AAAA example']);
  });

  it('drops the least recently used answer beyond maxEntries', async () => {
    const dns = fakeDns();
    for (const name of ['a', 'b', 'c']) {
      dns.answers.set(`A ${name}`, { kind: 'records', records: ['192.0.2.1'], ttl: 300 });
    }
    const cache = createDnsCache(dns, { clock: fakeClock(), maxEntries: 2 });

    await cache.a('a');
    await cache.a('b');
    await cache.a('a');
    await cache.a('c');
    dns.calls.length = 0;
    await cache.a('a');
    await cache.a('c');
    assert.deepEqual(dns.calls, []);
    await cache.a('b');
    assert.deepEqual(dns.calls, ['A b']);
  });

  it('closes the client underneath', () => {
    const dns = fakeDns();
    createDnsCache(dns, { clock: fakeClock() }).close();
    assert.equal(dns.closed, true);
  });
});
