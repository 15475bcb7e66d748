import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '@hikyaku/testing';
import {
  AddressFamilyError,
  DnsTemporaryError,
  DomainNotFoundError,
  NoMailHostError,
  NullMxError,
  RouteHostUnresolvedError,
  type RoutingError,
} from './errors.ts';
import { createMxResolver, type MxResolver } from './resolver.ts';

const RECORDS = {
  'example.test': {
    mx: [
      { preference: 20, exchange: 'backup.example.test' },
      { preference: 10, exchange: 'mx1.example.test' },
      { preference: 10, exchange: 'mx2.example.test' },
    ],
    // Never seen by the resolver: MX answers are kept for the cache's fixed MX time.
    ttl: 3600,
  },
  'mx1.example.test': { a: ['127.0.0.11'], ttl: 60 },
  'mx2.example.test': { a: ['127.0.0.12'], aaaa: ['::1'] },
  'backup.example.test': { a: ['127.0.0.13', '127.0.0.14'] },
  'implicit.test': { a: ['127.0.0.20'], aaaa: ['::2'] },
  'v6only.test': { aaaa: ['::3'] },
  'nomail.test': { mx: [{ preference: 0, exchange: '.' }] },
  'bare.test': {},
  'dangling.test': { mx: [{ preference: 10, exchange: 'missing.dangling.test' }] },
  'partial.test': {
    mx: [
      { preference: 10, exchange: 'missing.partial.test' },
      { preference: 20, exchange: 'broken-host.test' },
      { preference: 30, exchange: 'ok.partial.test' },
    ],
  },
  'ok.partial.test': { a: ['127.0.0.30'] },
  'flaky.test': { mx: [{ preference: 10, exchange: 'broken-host.test' }] },
  'smarthost.test': { a: ['127.0.0.40'] },
};

function clockAt(t: number) {
  return {
    t,
    now() {
      return this.t;
    },
  };
}

async function routingFailure(promise: Promise<unknown>): Promise<RoutingError> {
  try {
    await promise;
  } catch (err) {
    return err as RoutingError;
  }
  assert.fail('expected routing to fail');
}

describe('MX resolver against a DNS server', () => {
  let dns: TestDnsServer;
  let clock: ReturnType<typeof clockAt>;
  let resolver: MxResolver;

  before(async () => {
    dns = await startDnsServer({
      records: RECORDS,
      servfail: ['servfail.test', 'broken-host.test'],
      refused: ['refused.test'],
      timeout: ['silent.test'],
    });
  });
  after(async () => {
    await dns.stop();
  });
  beforeEach(() => {
    resolver?.close();
    clock = clockAt(0);
    resolver = createMxResolver({
      servers: [dns.address],
      // Long enough that a loaded machine answers in time; "silent" names still time out.
      timeoutMs: 750,
      tries: 1,
      clock,
      rng: () => 0.99,
    });
    dns.resetQueries();
  });

  it('orders MX hosts by preference and keeps each host address order', async () => {
    const route = await resolver.resolve('Example.Test.', { family: 4 });
    assert.equal(route.domain, 'example.test');
    assert.equal(route.source, 'mx');
    assert.deepEqual(route.candidates, [
      { host: 'mx1.example.test', port: 25, addresses: ['127.0.0.11'], preference: 10 },
      { host: 'mx2.example.test', port: 25, addresses: ['127.0.0.12'], preference: 10 },
      {
        host: 'backup.example.test',
        port: 25,
        addresses: ['127.0.0.13', '127.0.0.14'],
        preference: 20,
      },
    ]);
  });

  it('orders hosts of equal preference by the random source', async () => {
    const other = createMxResolver({ servers: [dns.address], clock, rng: () => 0 });
    const route = await other.resolve('example.test');
    other.close();
    assert.deepEqual(
      route.candidates.map((c) => c.host),
      ['mx2.example.test', 'mx1.example.test', 'backup.example.test'],
    );
  });

  it('lists IPv4 addresses before IPv6 ones, or one family when asked', async () => {
    const both = await resolver.resolve('example.test');
    assert.deepEqual(both.candidates[1]?.addresses, ['127.0.0.12', '::1']);
    const v6 = await resolver.resolve('example.test', { family: 6 });
    assert.deepEqual(v6.candidates, [
      { host: 'mx2.example.test', port: 25, addresses: ['::1'], preference: 10 },
    ]);
    assert.equal(dns.queryCount('backup.example.test', 'A'), 1);
  });

  it('falls back to the A and AAAA records of a domain without MX', async () => {
    const route = await resolver.resolve('implicit.test');
    assert.equal(route.source, 'implicit-mx');
    assert.deepEqual(route.candidates, [
      { host: 'implicit.test', port: 25, addresses: ['127.0.0.20', '::2'] },
    ]);
    const v6 = await resolver.resolve('v6only.test');
    assert.deepEqual(v6.candidates[0]?.addresses, ['::3']);
  });

  it('fails permanently with 556 5.1.10 on a null MX', async () => {
    const err = await routingFailure(resolver.resolve('nomail.test'));
    assert.ok(err instanceof NullMxError);
    assert.equal(err.code, 'HIKYAKU_NULL_MX');
    assert.equal(err.permanent, true);
    assert.deepEqual([err.reply.code, err.reply.enhanced], [556, '5.1.10']);
    assert.equal(dns.queryCount('nomail.test', 'A'), 0);
  });

  it('fails permanently when the domain does not exist', async () => {
    const err = await routingFailure(resolver.resolve('nowhere.test'));
    assert.ok(err instanceof DomainNotFoundError);
    assert.equal(err.permanent, true);
    assert.deepEqual([err.reply.code, err.reply.enhanced], [550, '5.1.2']);
  });

  it('fails permanently when nothing the domain names has an address', async () => {
    for (const domain of ['bare.test', 'dangling.test']) {
      const err = await routingFailure(resolver.resolve(domain));
      assert.ok(err instanceof NoMailHostError, domain);
      assert.deepEqual([err.reply.code, err.reply.enhanced], [550, '5.4.4']);
    }
  });

  it('bounces mail whose hosts have only addresses of a family the pool does not send from', async () => {
    const err = await routingFailure(resolver.resolve('v6only.test', { family: 4 }));
    assert.ok(err instanceof AddressFamilyError);
    assert.equal(err.permanent, true);
    assert.deepEqual([err.reply.code, err.reply.enhanced], [550, '5.4.4']);
    assert.match(err.reply.text, /only IPv6 addresses and the pool has no IPv6 address/);
  });

  it('defers it when another IP of the pool has that family', async () => {
    const err = await routingFailure(
      resolver.resolve('v6only.test', { family: 4, poolHasOtherFamily: true }),
    );
    assert.ok(err instanceof AddressFamilyError);
    assert.equal(err.permanent, false);
    assert.deepEqual([err.reply.code, err.reply.enhanced], [451, '4.4.4']);
    const route = await resolver.resolve('v6only.test', { family: 6 });
    assert.deepEqual(route.candidates[0]?.addresses, ['::3']);
  });

  for (const [domain, dnsCode] of [
    ['servfail.test', 'ESERVFAIL'],
    ['refused.test', 'EREFUSED'],
    ['silent.test', 'ETIMEOUT'],
  ] as const) {
    it(`fails temporarily with 451 4.4.3 on ${dnsCode}`, async () => {
      const err = await routingFailure(resolver.resolve(domain));
      assert.ok(err instanceof DnsTemporaryError);
      assert.equal(err.permanent, false);
      assert.equal(err.dnsCode, dnsCode);
      assert.deepEqual([err.reply.code, err.reply.enhanced], [451, '4.4.3']);
    });
  }

  it('skips MX hosts without addresses, even when their lookup failed', async () => {
    const route = await resolver.resolve('partial.test');
    assert.deepEqual(
      route.candidates.map((c) => c.host),
      ['ok.partial.test'],
    );
  });

  it('defers rather than bounces when the only MX host failed to resolve', async () => {
    const err = await routingFailure(resolver.resolve('flaky.test'));
    assert.ok(err instanceof DnsTemporaryError);
  });

  it('answers from the cache until the TTL passes', async () => {
    await resolver.resolve('example.test', { family: 4 });
    assert.equal(dns.queryCount(), 4);

    clock.t = 59_000;
    await resolver.resolve('example.test', { family: 4 });
    assert.equal(dns.queryCount(), 4);

    clock.t = 60_000;
    await resolver.resolve('example.test', { family: 4 });
    assert.deepEqual(
      dns.queries.slice(4).map((q) => `${q.type} ${q.name}`),
      ['A mx1.example.test'],
    );

    clock.t = 299_000;
    await resolver.resolve('example.test', { family: 4 });
    assert.equal(dns.queryCount('example.test', 'MX'), 1);
    clock.t = 300_000;
    await resolver.resolve('example.test', { family: 4 });
    assert.equal(dns.queryCount('example.test', 'MX'), 2);
  });

  it('caches a missing domain briefly', async () => {
    await routingFailure(resolver.resolve('nowhere.test'));
    clock.t = 59_000;
    await routingFailure(resolver.resolve('nowhere.test'));
    assert.equal(dns.queryCount('nowhere.test'), 1);
    clock.t = 60_000;
    await routingFailure(resolver.resolve('nowhere.test'));
    assert.equal(dns.queryCount('nowhere.test'), 2);
  });

  it('takes a static route before DNS, an exact domain before the smarthost', async () => {
    const routes = [
      { domains: ['*'], host: 'smarthost.test:2525' },
      { domains: ['example.test'], host: '127.0.0.50', port: 2526 },
    ];
    const exact = await resolver.resolve('EXAMPLE.test', { routes });
    assert.deepEqual(exact, {
      domain: 'example.test',
      source: 'static',
      candidates: [{ host: '127.0.0.50', port: 2526, addresses: ['127.0.0.50'] }],
    });
    const other = await resolver.resolve('nomail.test', { routes });
    assert.deepEqual(other.candidates, [
      { host: 'smarthost.test', port: 2525, addresses: ['127.0.0.40'] },
    ]);
    assert.equal(dns.queryCount(undefined, 'MX'), 0);
  });

  it('follows a changed routes list at once for a domain it routed before', async () => {
    const first = [{ domains: ['example.test'], host: '127.0.0.51' }];
    const second = [{ domains: ['example.test'], host: '127.0.0.52' }];
    const hostOf = async (routes: typeof first) =>
      (await resolver.resolve('Example.Test.', { routes })).candidates[0]?.host;
    assert.equal(await hostOf(first), '127.0.0.51');
    assert.equal(await hostOf(first), '127.0.0.51');
    assert.equal(await hostOf(second), '127.0.0.52');
    assert.equal(await hostOf(first), '127.0.0.51');
    const mx = await resolver.resolve('example.test', { routes: [] });
    assert.equal(mx.source, 'mx');
  });

  it('defers when a static route names a host without an address', async () => {
    const err = await routingFailure(
      resolver.resolve('example.test', { routes: [{ domains: ['*'], host: 'nowhere.test' }] }),
    );
    assert.ok(err instanceof RouteHostUnresolvedError);
    assert.equal(err.permanent, false);
  });

  it('sends mail for an address literal to that address, on the configured port', async () => {
    const onPort = createMxResolver({ servers: [dns.address], clock, port: 2525 });
    const route = await onPort.resolve('[127.0.0.60]');
    onPort.close();
    assert.deepEqual(route, {
      domain: '[127.0.0.60]',
      source: 'address-literal',
      candidates: [{ host: '127.0.0.60', port: 2525, addresses: ['127.0.0.60'] }],
    });
    assert.equal(dns.queryCount(), 0);
  });
});
