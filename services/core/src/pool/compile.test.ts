import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicyError } from '../policy/errors.ts';
import {
  activeIps,
  assignIps,
  bindsSourceAddress,
  compilePool,
  ipsOfPod,
  senderReplicas,
} from './compile.ts';
import type { RelayPoolResource } from './spec.ts';

const pool: RelayPoolResource = {
  apiVersion: 'hikyaku.io/v1alpha1',
  kind: 'RelayPool',
  metadata: { name: 'tx', namespace: 'mail', generation: 3 },
  spec: {
    ips: [
      { address: '203.0.113.10', hostname: 'mta1.example.com' },
      {
        address: '203.0.113.11',
        hostname: 'mta2.example.com',
        warmup: { startDate: '2026-11-01' },
      },
      { address: '203.0.113.12', hostname: 'mta3.example.com' },
    ],
    routes: [{ domains: ['Partner.Example.'], host: 'gw.partner.example:2525' }],
    retry: { schedule: ['1m', '1h30m'], maxAge: '2d' },
    warmup: { schedule: [{ day: 1, dailyLimit: 50 }] },
    dkim: [
      {
        domain: 'example.com',
        selector: 's1',
        privateKeySecretRef: { name: 'dkim', key: 'key.pem' },
      },
    ],
  },
};

test('IPs are spread over pods ipsPerPod at a time', () => {
  const assignment = assignIps('tx', ['a', 'b', 'c'], 2);
  assert.deepEqual(assignment, { a: 'tx-sender-0', b: 'tx-sender-0', c: 'tx-sender-1' });
  assert.equal(senderReplicas(3, 2), 2);
  assert.equal(senderReplicas(4, 1), 4);
});

test('a pool compiles to what the data plane reads, defaults filled in', () => {
  const compiled = compilePool(pool, {
    assignment: assignIps(
      'tx',
      pool.spec.ips.map((i) => i.address),
      1,
    ),
    draining: ['203.0.113.12'],
  });
  assert.equal(compiled.key, 'mail_tx');
  assert.equal(compiled.generation, 3);
  assert.deepEqual(compiled.retry, { scheduleMs: [60_000, 5_400_000], maxAgeMs: 172_800_000 });
  assert.deepEqual(compiled.routes, [
    { domains: ['partner.example'], host: 'gw.partner.example', port: 2525 },
  ]);
  assert.equal(compiled.ips[1]?.warmupStartDate, '2026-11-01');
  assert.equal(compiled.dkim[0]?.keyFile, '/etc/hikyaku/dkim/dkim/key.pem');
  assert.deepEqual(
    activeIps(compiled).map((i) => i.address),
    ['203.0.113.10', '203.0.113.11'],
  );
  assert.deepEqual(
    ipsOfPod(compiled, 'tx-sender-1').map((i) => i.address),
    ['203.0.113.11'],
  );
  assert.equal(compiled.bounces.suppressHardBounces, true);
});

test('rate policies are resolved once, the catch-all last', () => {
  const compiled = compilePool(
    {
      ...pool,
      spec: {
        ...pool.spec,
        ratePolicies: [
          {
            name: 'google',
            match: { mxHosts: ['*.google.com'] },
            perIp: { messagesPerMinute: 60 },
          },
        ],
      },
    },
    { assignment: {} },
  );
  assert.deepEqual(
    compiled.resolvedRatePolicies?.map((p) => [p.name, p.perIp.messagesPerMinute]),
    [
      ['google', 60],
      ['default', 300],
    ],
  );
  assert.equal(compiled.resolvedRatePolicies?.[0]?.perIp.connections, 10);
});

test('a pool that cannot be shaped as declared is refused, naming why', () => {
  const refused = (spec: Partial<RelayPoolResource['spec']>, code: string, text: RegExp) =>
    assert.throws(
      () => compilePool({ ...pool, spec: { ...pool.spec, ...spec } }, { assignment: {} }),
      (err: unknown) => err instanceof PolicyError && err.code === code && text.test(err.message),
    );
  refused(
    { warmup: { schedule: [] } },
    'HIKYAKU_BAD_WARMUP_SCHEDULE',
    /203\.0\.113\.11 have a warm-up start date/,
  );
  refused(
    {
      warmup: {
        schedule: [
          { day: 2, dailyLimit: 1 },
          { day: 1, dailyLimit: 2 },
        ],
      },
    },
    'HIKYAKU_BAD_WARMUP_SCHEDULE',
    /does not follow/,
  );
  refused({ ratePolicies: [{ name: 'nomatch' }] }, 'HIKYAKU_BAD_RATE_POLICY', /nomatch/);
  refused({ timeZone: 'Mars/Olympus' }, 'HIKYAKU_BAD_TIME_ZONE', /Mars/);
});

test('an IP whose node is unavailable keeps its pod and node but takes no new jobs', () => {
  const compiled = compilePool(
    {
      ...pool,
      spec: {
        ...pool.spec,
        egress: { mode: 'hostNetwork' },
        ips: pool.spec.ips.map((ip, i) => ({ ...ip, node: i < 2 ? 'egress-a' : 'egress-b' })),
      },
    },
    {
      assignment: assignIps('tx', ['203.0.113.10', '203.0.113.11', '203.0.113.12'], 1),
      nodeUnavailable: ['203.0.113.12'],
    },
  );
  assert.equal(compiled.egress, 'hostNetwork');
  const third = compiled.ips[2];
  assert.deepEqual(
    { node: third?.node, pod: third?.pod, nodeUnavailable: third?.nodeUnavailable },
    { node: 'egress-b', pod: 'tx-sender-2', nodeUnavailable: true },
  );
  assert.equal(compiled.ips[0]?.node, 'egress-a');
  assert.deepEqual(
    activeIps(compiled).map((ip) => ip.address),
    ['203.0.113.10', '203.0.113.11'],
  );
});

test('senders bind to their IPs in every egress mode but gateway', () => {
  assert.equal(bindsSourceAddress({}), true);
  assert.equal(bindsSourceAddress({ egress: 'hostNetwork' }), true);
  assert.equal(bindsSourceAddress({ egress: 'multus' }), true);
  assert.equal(bindsSourceAddress({ egress: 'gateway' }), false);
});

test('webhooks compile with the mounted path of their Secret, or a local file beside the pool file', () => {
  const hook = { name: 'crm', url: 'https://crm.example.com/in', events: ['bounced'] };
  const withHooks: RelayPoolResource = {
    ...pool,
    spec: {
      ...pool.spec,
      webhooks: [
        { ...hook, secretKeyRef: { name: 'crm-hook', key: 'secret' } },
        { ...hook, name: 'dev', secretFile: 'dev.secret' },
      ],
    },
  };
  const compiled = compilePool(withHooks, { assignment: {}, fileDir: '/srv/pools' });
  assert.deepEqual(
    compiled.webhooks?.map((w) => [w.name, w.secretFile]),
    [
      ['crm', '/etc/hikyaku/webhooks/crm-hook/secret'],
      ['dev', '/srv/pools/dev.secret'],
    ],
  );
  assert.equal(compilePool(pool, { assignment: {} }).webhooks, undefined);
  const plain = {
    ...withHooks,
    spec: { ...pool.spec, webhooks: [{ ...hook, url: 'http://x.test/', secretFile: 's' }] },
  };
  assert.throws(
    () => compilePool(plain as RelayPoolResource, { assignment: {} }),
    (err: unknown) => err instanceof PolicyError && err.code === 'HIKYAKU_BAD_WEBHOOK',
  );
});
