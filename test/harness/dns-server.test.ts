import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '@hikyaku/testing';

function resolverFor(server: TestDnsServer, timeoutMs = 200): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([server.address]);
  return resolver;
}

async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  assert.fail('expected the lookup to fail');
}

describe('test DNS server', () => {
  let dns: TestDnsServer;
  let resolver: Resolver;

  before(async () => {
    dns = await startDnsServer({
      records: {
        'Example.TEST.': {
          mx: [
            { preference: 20, exchange: 'mx2.example.test' },
            { preference: 10, exchange: 'mx1.example.test' },
          ],
          a: ['127.0.0.2'],
          ttl: 120,
        },
        'mx1.example.test': { a: ['127.0.0.3', '127.0.0.4'], aaaa: ['::1'] },
        'nomail.test': { mx: [{ preference: 0, exchange: '.' }] },
        'empty.test': {},
        'alias.test': { cname: 'example.test' },
        'long.test': { txt: ['x'.repeat(2000)] },
      },
      servfail: ['broken.test'],
      refused: ['closed.test'],
      timeout: ['silent.test'],
    });
    resolver = resolverFor(dns);
  });

  after(async () => {
    await dns.stop();
  });

  it('listens on loopback', () => {
    assert.match(dns.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(dns.address, `127.0.0.1:${dns.port}`);
  });

  it('answers MX, A and AAAA with the configured TTL, whatever the case of the name', async () => {
    const mx = await resolver.resolveMx('EXAMPLE.test');
    assert.deepEqual(
      mx
        .map(({ exchange, priority }) => ({ exchange, priority }))
        .sort((x, y) => x.priority - y.priority),
      [
        { exchange: 'mx1.example.test', priority: 10 },
        { exchange: 'mx2.example.test', priority: 20 },
      ],
    );
    assert.deepEqual(await resolver.resolve4('example.test', { ttl: true }), [
      { address: '127.0.0.2', ttl: 120 },
    ]);
    assert.deepEqual(await resolver.resolve4('mx1.example.test'), ['127.0.0.3', '127.0.0.4']);
    assert.deepEqual(await resolver.resolve6('mx1.example.test', { ttl: true }), [
      { address: '::1', ttl: 300 },
    ]);
  });

  it('serves a null MX as an empty exchange', async () => {
    const mx = await resolver.resolveMx('nomail.test');
    assert.deepEqual(
      mx.map(({ exchange, priority }) => ({ exchange, priority })),
      [{ exchange: '', priority: 0 }],
    );
  });

  it('answers NODATA for a known name without records of the type', async () => {
    assert.equal(await rejectionCode(resolver.resolveMx('empty.test')), 'ENODATA');
    assert.equal(await rejectionCode(resolver.resolve6('example.test')), 'ENODATA');
  });

  it('answers NXDOMAIN for an unknown name', async () => {
    assert.equal(await rejectionCode(resolver.resolveMx('unknown.test')), 'ENOTFOUND');
  });

  it('fails the names it is told to', async () => {
    assert.equal(await rejectionCode(resolver.resolveMx('broken.test')), 'ESERVFAIL');
    assert.equal(await rejectionCode(resolver.resolveMx('closed.test')), 'EREFUSED');
    assert.equal(await rejectionCode(resolver.resolveMx('silent.test')), 'ETIMEOUT');
  });

  it('follows a CNAME to the target records', async () => {
    assert.deepEqual(await resolver.resolve4('alias.test'), ['127.0.0.2']);
  });

  it('truncates long UDP answers so that the client retries over TCP', async () => {
    dns.resetQueries();
    const txt = await resolver.resolveTxt('long.test');
    assert.equal(txt[0]?.join(''), 'x'.repeat(2000));
    assert.deepEqual(
      dns.queries.map((q) => q.transport),
      ['udp', 'tcp'],
    );
  });

  it('counts queries per name and type, and can be reconfigured', async () => {
    dns.resetQueries();
    await resolver.resolveMx('example.test');
    await resolver.resolve4('example.test');
    assert.equal(dns.queryCount('example.test.'), 2);
    assert.equal(dns.queryCount('example.test', 'mx'), 1);
    assert.equal(dns.queryCount(), 2);

    dns.setRecords({ 'new.test': { a: ['127.0.0.9'] } });
    dns.setFailures({ servfail: ['example.test'] });
    assert.deepEqual(await resolver.resolve4('new.test'), ['127.0.0.9']);
    assert.equal(await rejectionCode(resolver.resolve4('example.test')), 'ESERVFAIL');
    assert.equal(await rejectionCode(resolver.resolve4('broken.test')), 'ENOTFOUND');
  });
});
