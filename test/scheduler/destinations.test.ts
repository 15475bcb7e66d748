/**
 * Rate policies matched by MX host: the scheduler resolves a destination's MX hosts with
 * Node's resolver (here against a DNS server on loopback), caches them, and a policy for
 * "*.google.com" covers a domain Google hosts. Static routes count as the MX; a domain
 * whose MX cannot be looked up is matched by its name alone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compilePool } from '@hikyaku/core';
import { createDestinations, createMxLookup, type MxLookup } from '@hikyaku/scheduler';
import { startDnsServer, type TestDnsServer } from '@hikyaku/testing';

let dns: TestDnsServer;
let mx: MxLookup;

const pool = compilePool(
  {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'mx', namespace: 'test' },
    spec: {
      ips: [{ address: '127.0.0.2', hostname: 'mta1.hikyaku.test' }],
      routes: [{ domains: ['partner.test'], host: 'mx.google.com:2525' }],
      ratePolicies: [
        { name: 'google', match: { mxHosts: ['*.google.com'] }, perIp: { messagesPerMinute: 60 } },
        { name: 'docomo', match: { domains: ['docomo.ne.jp'] } },
      ],
    },
  },
  { assignment: {} },
);

before(async () => {
  dns = await startDnsServer({
    records: {
      'shop-on-gmail.test': {
        mx: [
          { preference: 20, exchange: 'alt1.aspmx.l.google.com' },
          { preference: 10, exchange: 'aspmx.l.google.com' },
        ],
      },
      'elsewhere.test': { mx: [{ preference: 10, exchange: 'mx.elsewhere.test' }] },
    },
    servfail: ['broken.test'],
  });
  mx = createMxLookup({ servers: [dns.address], timeoutMs: 500, now: Date.now });
});

after(async () => {
  mx?.close();
  await dns?.stop();
});

test('a domain hosted by Google falls under the *.google.com policy, with one budget', async () => {
  const destinations = createDestinations(mx);
  const hosted = await destinations.resolve(pool, 'shop-on-gmail.test');
  assert.deepEqual([hosted.policy.name, hosted.site], ['google', 'google']);
  assert.deepEqual(await mx.hosts('shop-on-gmail.test', []), [
    'aspmx.l.google.com',
    'alt1.aspmx.l.google.com',
  ]);
  const other = await destinations.resolve(pool, 'elsewhere.test');
  assert.deepEqual([other.policy.name, other.site], ['default', 'default:elsewhere.test']);
  const byName = await destinations.resolve(pool, 'docomo.ne.jp');
  assert.equal(byName.site, 'docomo');
});

test('answers are cached; a static route host counts as the MX; failures match by name', async () => {
  const destinations = createDestinations(mx);
  const asked = dns.queries.length;
  await destinations.resolve(pool, 'shop-on-gmail.test');
  assert.equal(dns.queries.length, asked, 'the cached MX answered');
  const routed = await destinations.resolve(pool, 'partner.test');
  assert.equal(routed.policy.name, 'google');
  assert.equal(dns.queries.length, asked, 'a static route needs no lookup');
  const broken = await destinations.resolve(pool, 'broken.test');
  assert.equal(broken.policy.name, 'default');
});
