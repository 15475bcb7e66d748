import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  InvalidPoolError,
  type OpenApiSchema,
  parseRelayPoolYaml,
  RELAYPOOL_CRD_URL,
  relayPoolSchema,
  validateRelayPoolSpec,
} from './schema.ts';
import type {
  BounceSpec,
  CiliumEgressSpec,
  ComplaintGuardSpec,
  DkimSpec,
  DnsblZoneSpec,
  EgressSpec,
  FeedbackSpec,
  GatewayEgressSpec,
  IpSpec,
  MultusEgressSpec,
  PerIpRateSpec,
  PoolWarmupSpec,
  RateMatchSpec,
  RatePolicySpec,
  RelayPoolSpec,
  ReputationSpec,
  RetrySpec,
  RouteSpec,
  SecretKeyRef,
  SendersSpec,
  SubmitterSpec,
  ThrottleSpec,
  WarmupSpec,
  WarmupStepSpec,
  WebhookSpec,
} from './spec.ts';

const EXAMPLES = new URL('../../../../examples/', import.meta.url);

function validPool(): Record<string, unknown> {
  return {
    submitters: [{ username: 'app', passwordSecretRef: { name: 'app-smtp', key: 'password' } }],
    allowedNetworks: ['10.0.0.0/8'],
    ips: [
      { address: '203.0.113.10', hostname: 'mta1.example.com' },
      {
        address: '203.0.113.11',
        hostname: 'mta2.example.com',
        warmup: { startDate: '2026-11-01' },
      },
    ],
    warmup: {
      schedule: [
        { day: 1, dailyLimit: 50 },
        { day: 2, dailyLimit: 100 },
      ],
    },
    ratePolicies: [{ name: 'gmail', match: { domains: ['gmail.com'] } }],
    retry: { schedule: ['1m', '5m'], maxAge: '72h' },
    dkim: [{ domain: 'example.com', selector: 's1', privateKeyFile: 'dkim.pem' }],
    routes: [{ domains: ['example.test'], host: '127.0.0.1', port: 2626 }],
  };
}

/** A valid webhook with some fields changed (undefined: removed). */
function hook(change: Record<string, unknown>): Record<string, unknown> {
  const webhook: Record<string, unknown> = {
    name: 'ops',
    url: 'https://hooks.example.com/in',
    events: ['bounced', 'complained'],
    secretKeyRef: { name: 'hooks', key: 'secret' },
    ...change,
  };
  for (const [k, v] of Object.entries(webhook)) if (v === undefined) delete webhook[k];
  return webhook;
}

// biome-ignore lint/suspicious/noExplicitAny: the edits below write deliberately invalid shapes
type Pool = Record<string, any>;

/** validPool() with one change made by `edit`. */
function poolWith(edit: (pool: Pool) => void): Record<string, unknown> {
  const pool = validPool();
  edit(pool);
  return pool;
}

function fieldsOf(spec: unknown): string[] {
  return validateRelayPoolSpec(spec).map((i) => i.field);
}

function toYaml(spec: unknown): string {
  return JSON.stringify({
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'test' },
    spec,
  });
}

describe('the RelayPool CRD', () => {
  const crd = parse(readFileSync(RELAYPOOL_CRD_URL, 'utf8'));

  it('declares relaypools.hikyaku.io, namespaced, v1alpha1 served and stored with status', () => {
    assert.equal(crd.metadata.name, 'relaypools.hikyaku.io');
    assert.equal(crd.spec.group, 'hikyaku.io');
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.deepEqual(crd.spec.names.shortNames, ['rp']);
    assert.deepEqual(crd.spec.names.categories, ['hikyaku']);
    const [version] = crd.spec.versions;
    assert.equal(crd.spec.versions.length, 1);
    assert.equal(version.name, 'v1alpha1');
    assert.equal(version.served && version.storage, true);
    assert.deepEqual(version.subresources, { status: {} });
  });

  it('prints columns that point at status fields the schema declares', () => {
    const [version] = crd.spec.versions;
    const status = version.schema.openAPIV3Schema.properties.status.properties;
    for (const column of version.additionalPrinterColumns) {
      const match = /^\.status\.(\w+)/.exec(column.jsonPath);
      if (match) assert.ok(status[match[1] as string], `${column.name}: ${column.jsonPath}`);
    }
    assert.deepEqual(
      version.additionalPrinterColumns.map((c: { name: string }) => c.name),
      ['Ready', 'IPs', 'Warming', 'Sent Today', 'Senders', 'Age'],
    );
  });

  it('describes every spec field', () => {
    const undescribed: string[] = [];
    const visit = (schema: OpenApiSchema, path: string) => {
      for (const [key, child] of Object.entries(schema.properties ?? {})) {
        if (typeof child.description !== 'string') undescribed.push(`${path}.${key}`);
        visit(child, `${path}.${key}`);
      }
      if (schema.items) visit(schema.items, `${path}[]`);
    };
    visit(relayPoolSchema(), 'spec');
    assert.deepEqual(undescribed, []);
  });
});

/**
 * The field names of a spec.ts interface, split into required and optional. Typed so that
 * the compiler refuses a list that misses or invents a field: the test below then holds
 * the CRD to exactly the TypeScript types.
 */
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type OptionalKeys<T> = Exclude<keyof T, RequiredKeys<T>>;
function shape<T>(
  required: Record<RequiredKeys<T>, true>,
  optional: Record<OptionalKeys<T>, true>,
): { required: string[]; all: string[] } {
  const req = Object.keys(required).sort();
  return { required: req, all: [...req, ...Object.keys(optional)].sort() };
}

describe('the spec schema mirrors spec.ts', () => {
  const ref = shape<SecretKeyRef>({ name: true, key: true }, {});
  const shapes: Record<string, ReturnType<typeof shape>> = {
    '': shape<RelayPoolSpec>(
      { ips: true },
      {
        submitters: true,
        allowedNetworks: true,
        senders: true,
        egress: true,
        warmup: true,
        ratePolicies: true,
        retry: true,
        bounces: true,
        dkim: true,
        routes: true,
        feedback: true,
        timeZone: true,
        maxMessageSize: true,
        maxRecipients: true,
        reputation: true,
        webhooks: true,
      },
    ),
    'submitters[]': shape<SubmitterSpec>(
      { username: true },
      {
        passwordSecretRef: true,
        passwordFile: true,
        allowedSenderDomains: true,
        messagesPerMinute: true,
      },
    ),
    'submitters[].passwordSecretRef': ref,
    'ips[]': shape<IpSpec>({ address: true, hostname: true }, { warmup: true, node: true }),
    'ips[].warmup': shape<WarmupSpec>({ startDate: true }, {}),
    senders: shape<SendersSpec>({}, { ipsPerPod: true, template: true }),
    egress: shape<EgressSpec>({ mode: true }, { multus: true, gateway: true }),
    'egress.multus': shape<MultusEgressSpec>(
      { network: true },
      { namespace: true, interface: true, ipv4PrefixLength: true, ipv6PrefixLength: true },
    ),
    'egress.gateway': shape<GatewayEgressSpec>({}, { cilium: true }),
    'egress.gateway.cilium': shape<CiliumEgressSpec>(
      { nodeSelector: true },
      { destinationCIDRs: true },
    ),
    warmup: shape<PoolWarmupSpec>({ schedule: true }, { overflow: true, minDeliveredRatio: true }),
    'warmup.schedule[]': shape<WarmupStepSpec>({ day: true, dailyLimit: true }, {}),
    'ratePolicies[]': shape<RatePolicySpec>(
      { name: true },
      { match: true, perIp: true, poolMessagesPerMinute: true, onThrottle: true, tls: true },
    ),
    'ratePolicies[].match': shape<RateMatchSpec>({}, { domains: true, mxHosts: true }),
    'ratePolicies[].perIp': shape<PerIpRateSpec>(
      {},
      {
        messagesPerMinute: true,
        connections: true,
        messagesPerConnection: true,
        recipientsPerMessage: true,
      },
    ),
    'ratePolicies[].onThrottle': shape<ThrottleSpec>(
      {},
      { pause: true, factor: true, recoverAfter: true, patterns: true },
    ),
    retry: shape<RetrySpec>({}, { schedule: true, maxAge: true }),
    bounces: shape<BounceSpec>({}, { suppressHardBounces: true, notifySender: true }),
    'dkim[]': shape<DkimSpec>(
      { domain: true, selector: true },
      { privateKeySecretRef: true, privateKeyFile: true },
    ),
    'dkim[].privateKeySecretRef': ref,
    'routes[]': shape<RouteSpec>({ domains: true, host: true }, { port: true }),
    reputation: shape<ReputationSpec>(
      {},
      {
        enabled: true,
        checkInterval: true,
        coolDown: true,
        dnsbl: true,
        fcrdns: true,
        blockReplies: true,
        checkPrivateAddresses: true,
      },
    ),
    'reputation.dnsbl[]': shape<DnsblZoneSpec>({ zone: true }, { action: true }),
    'reputation.blockReplies': shape<NonNullable<ReputationSpec['blockReplies']>>(
      {},
      { window: true, minAttempts: true, threshold: true, action: true },
    ),
    feedback: shape<FeedbackSpec>(
      { bounceDomain: true },
      {
        complaintAddress: true,
        signingKeySecretRef: true,
        signingKeyFile: true,
        senderDomains: true,
        maxReportSize: true,
        reportsPerMinute: true,
        complaints: true,
      },
    ),
    'feedback.signingKeySecretRef': ref,
    'webhooks[]': shape<WebhookSpec>(
      { name: true, url: true, events: true },
      {
        secretKeyRef: true,
        secretFile: true,
        maxBatchEvents: true,
        maxBatchBytes: true,
        maxBatchWait: true,
        maxAge: true,
      },
    ),
    'webhooks[].secretKeyRef': ref,
    'feedback.complaints': shape<ComplaintGuardSpec>(
      {},
      { warnRate: true, stopRate: true, action: true, window: true, minDelivered: true },
    ),
  };

  function schemaAt(path: string): OpenApiSchema {
    let node: OpenApiSchema = relayPoolSchema();
    for (const part of path.split('.').filter(Boolean)) {
      const name = part.replace(/\[\]$/, '');
      node = node.properties?.[name] as OpenApiSchema;
      if (part.endsWith('[]')) node = node.items as OpenApiSchema;
      assert.ok(node, `spec.${path}`);
    }
    return node;
  }

  for (const [path, expected] of Object.entries(shapes)) {
    it(`spec${path ? `.${path}` : ''} has the fields and required fields of its type`, () => {
      const node = schemaAt(path);
      assert.deepEqual(Object.keys(node.properties ?? {}).sort(), expected.all);
      assert.deepEqual(
        [...((node.required as string[] | undefined) ?? [])].sort(),
        expected.required,
      );
    });
  }
});

describe('examples/', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));

  it('holds the documented examples, one per egress mode among them', () => {
    assert.deepEqual(files.sort(), [
      'egress-gateway.yaml',
      'egress-hostnetwork.yaml',
      'egress-multus.yaml',
      'local-demo.yaml',
      'marketing.yaml',
      'transactional.yaml',
    ]);
    const modes = files.map(
      (f) => parseRelayPoolYaml(readFileSync(new URL(f, EXAMPLES), 'utf8'), f).spec.egress?.mode,
    );
    assert.deepEqual([...new Set(modes.filter(Boolean))].sort(), [
      'gateway',
      'hostNetwork',
      'multus',
    ]);
  });

  // Without egress nothing pins a pod to the node of its IPs: a cluster example declares its
  // mode and leaves hostNetwork to it. local-demo.yaml is for local mode, which has no pods.
  for (const file of files.filter((f) => f !== 'local-demo.yaml')) {
    it(`${file} declares its egress mode and sets no hostNetwork in its template`, () => {
      const pool = parseRelayPoolYaml(readFileSync(new URL(file, EXAMPLES), 'utf8'), file);
      assert.ok(pool.spec.egress?.mode, `${file} has no spec.egress.mode`);
      const template = pool.spec.senders?.template as
        | { spec?: Record<string, unknown> }
        | undefined;
      assert.equal(template?.spec?.hostNetwork, undefined);
    });
  }

  for (const file of files) {
    it(`${file} is a valid RelayPool`, () => {
      const text = readFileSync(new URL(file, EXAMPLES), 'utf8');
      const pool = parseRelayPoolYaml(text, file);
      assert.equal(pool.kind, 'RelayPool');
      assert.ok(pool.spec.ips.length > 0);
    });
  }

  it('agree with the example in docs/relaypool.md', () => {
    const doc = readFileSync(new URL('../../../../docs/relaypool.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example);
    assert.equal(parseRelayPoolYaml(example, 'docs/relaypool.md').metadata.name, 'transactional');
  });

  it('sends from documentation addresses only, except the local demo', () => {
    for (const file of files.filter((f) => f !== 'local-demo.yaml')) {
      const pool = parseRelayPoolYaml(readFileSync(new URL(file, EXAMPLES), 'utf8'), file);
      const addresses = [
        ...pool.spec.ips.map((ip) => ip.address),
        ...(pool.spec.allowedNetworks ?? []),
      ];
      for (const a of addresses) assert.match(a, /^(203\.0\.113|198\.51\.100)\./, `${file}: ${a}`);
    }
  });
});

describe('validateRelayPoolSpec', () => {
  it('accepts a valid pool', () => {
    assert.deepEqual(validateRelayPoolSpec(validPool()), []);
  });

  const rejected: [string, (p: Pool) => void, string][] = [
    ['duplicate IPs', (p) => (p.ips[1].address = p.ips[0].address), 'spec.ips'],
    ['a malformed CIDR', (p) => (p.allowedNetworks = ['10.0.0.0/33']), 'spec.allowedNetworks[0]'],
    ['a CIDR without prefix', (p) => (p.allowedNetworks = ['10.0.0.0']), 'spec.allowedNetworks[0]'],
    ['an open relay', (p) => (p.allowedNetworks = ['0.0.0.0/0']), 'spec.allowedNetworks[0]'],
    ['decreasing warm-up days', (p) => (p.warmup.schedule[1].day = 1), 'spec.warmup.schedule'],
    [
      'decreasing daily limits',
      (p) => (p.warmup.schedule[1].dailyLimit = 10),
      'spec.warmup.schedule',
    ],
    ['missing ips', (p) => delete p.ips, 'spec.ips'],
    ['empty ips', (p) => (p.ips = []), 'spec.ips'],
    ['missing hostname', (p) => delete p.ips[0].hostname, 'spec.ips[0].hostname'],
    ['a hostname without a dot', (p) => (p.ips[0].hostname = 'mta1'), 'spec.ips[0].hostname'],
    ['a bad address', (p) => (p.ips[1].address = '203.0.113.256'), 'spec.ips[1].address'],
    [
      'an octet with a leading zero',
      (p) => (p.ips[1].address = '203.0.113.011'),
      'spec.ips[1].address',
    ],
    [
      'IPv6 not in canonical form',
      (p) => (p.ips[1].address = '2001:DB8::1'),
      'spec.ips[1].address',
    ],
    [
      'an IPv4-mapped IPv6 address',
      (p) => (p.ips[1].address = '::ffff:203.0.113.1'),
      'spec.ips[1].address',
    ],
    [
      'an impossible date',
      (p) => (p.ips[1].warmup.startDate = '2026-02-30'),
      'spec.ips[1].warmup.startDate',
    ],
    ['warming IPs without a schedule', (p) => delete p.warmup, 'spec.warmup'],
    ['a bad duration', (p) => (p.retry.maxAge = '3 days'), 'spec.retry.maxAge'],
    ['units out of order', (p) => (p.retry.maxAge = '30m1h'), 'spec.retry.maxAge'],
    ['a zero retry wait', (p) => (p.retry.schedule = ['0s']), 'spec.retry.schedule[0]'],
    ['an unknown overflow value', (p) => (p.warmup.overflow = 'drop'), 'spec.warmup.overflow'],
    ['duplicate policy names', (p) => p.ratePolicies.push({ name: 'gmail' }), 'spec.ratePolicies'],
    [
      'a policy without match',
      (p) => p.ratePolicies.unshift({ name: 'all' }),
      'spec.ratePolicies[0]',
    ],
    [
      'a default policy with a match',
      (p) => (p.ratePolicies[0].name = 'default'),
      'spec.ratePolicies[0]',
    ],
    ['an empty match', (p) => (p.ratePolicies[0].match = {}), 'spec.ratePolicies[0].match'],
    [
      'a throttle factor of zero',
      (p) => (p.ratePolicies[0].onThrottle = { factor: 0 }),
      'spec.ratePolicies[0].onThrottle.factor',
    ],
    [
      'a throttle factor of one',
      (p) => (p.ratePolicies[0].onThrottle = { factor: 1 }),
      'spec.ratePolicies[0].onThrottle.factor',
    ],
    [
      'a zero recovery window',
      (p) => (p.ratePolicies[0].onThrottle = { recoverAfter: '0m' }),
      'spec.ratePolicies[0].onThrottle.recoverAfter',
    ],
    ['a route without domains', (p) => delete p.routes[0].domains, 'spec.routes[0].domains'],
    ['a route with empty domains', (p) => (p.routes[0].domains = []), 'spec.routes[0].domains'],
    [
      '"*" beside other domains',
      (p) => (p.routes[0].domains = ['*', 'a.test']),
      'spec.routes[0].domains',
    ],
    ['a port given twice', (p) => (p.routes[0].host = '127.0.0.1:2525'), 'spec.routes[0]'],
    ['a bad next-hop address', (p) => (p.routes[0].host = '127.0.0.999'), 'spec.routes[0].host'],
    [
      'dkim with both key sources',
      (p) => (p.dkim[0].privateKeySecretRef = { name: 'k', key: 'pem' }),
      'spec.dkim[0]',
    ],
    ['dkim with no key', (p) => delete p.dkim[0].privateKeyFile, 'spec.dkim[0]'],
    [
      'a submitter with two password sources',
      (p) => (p.submitters[0].passwordFile = 'pw.txt'),
      'spec.submitters[0]',
    ],
    ['duplicate usernames', (p) => p.submitters.push({ username: 'app' }), 'spec.submitters'],
    ['an unknown field', (p) => (p.ips[0].ptr = 'x'), 'spec.ips[0].ptr'],
    [
      'a webhook over plain http',
      (p) => (p.webhooks = [hook({ url: 'http://hooks.example.com/in' })]),
      'spec.webhooks[0]',
    ],
    [
      'a webhook without events',
      (p) => (p.webhooks = [hook({ events: [] })]),
      'spec.webhooks[0].events',
    ],
    [
      'an unknown webhook event type',
      (p) => (p.webhooks = [hook({ events: ['opened'] })]),
      'spec.webhooks[0].events[0]',
    ],
    [
      'a webhook with no secret',
      (p) => (p.webhooks = [hook({ secretKeyRef: undefined })]),
      'spec.webhooks[0]',
    ],
    [
      'a webhook with two secret sources',
      (p) => (p.webhooks = [hook({ secretFile: 'hook.secret' })]),
      'spec.webhooks[0]',
    ],
    ['two webhooks of one name', (p) => (p.webhooks = [hook({}), hook({})]), 'spec.webhooks'],
    [
      'a zero webhook maximum age',
      (p) => (p.webhooks = [hook({ maxAge: '0h' })]),
      'spec.webhooks[0].maxAge',
    ],
    [
      'a webhook batch of no events',
      (p) => (p.webhooks = [hook({ maxBatchEvents: 0 })]),
      'spec.webhooks[0].maxBatchEvents',
    ],
    ['a negative size', (p) => (p.maxMessageSize = -1), 'spec.maxMessageSize'],
    ['a string for a number', (p) => (p.maxRecipients = '10'), 'spec.maxRecipients'],
  ];

  for (const [what, edit, field] of rejected) {
    it(`rejects ${what}, naming ${field}`, () => {
      assert.ok(
        fieldsOf(poolWith(edit)).includes(field),
        JSON.stringify(validateRelayPoolSpec(poolWith(edit))),
      );
    });
  }

  it('accepts what the rules allow at their edges', () => {
    const accepted: ((p: Pool) => void)[] = [
      (p) => (p.ips[1].address = '2001:db8::1'),
      (p) => (p.ips[1].address = '2001:db8:0:1:1:1:1:1'),
      (p) => (p.allowedNetworks = ['2001:db8::/32', '127.0.0.0/8']),
      (p) => (p.routes[0] = { domains: ['*'], host: '[2001:db8::1]:2525' }),
      (p) => (p.routes[0] = { domains: ['a.test'], host: 'smarthost.example.net:587' }),
      (p) => (p.routes[0] = { domains: ['a.test'], host: '2001:db8::25' }),
      (p) => (p.retry.maxAge = '2d12h'),
      (p) => p.ratePolicies.unshift({ name: 'default', tls: 'required' }),
      (p) => (p.ratePolicies[0].match = { domains: ['*.example.com'], mxHosts: ['*.google.com'] }),
      (p) => (p.ratePolicies[0].onThrottle = { pause: '0s', factor: 0.25, patterns: ['TSS?04'] }),
      (p) => (p.warmup.schedule = [{ day: 3, dailyLimit: 0 }]),
      (p) => delete p.submitters[0].passwordSecretRef,
    ];
    for (const edit of accepted) assert.deepEqual(validateRelayPoolSpec(poolWith(edit)), []);
  });

  it('tells canonical IPv6 from the other spellings of the same address', () => {
    const verdict = (address: string) =>
      validateRelayPoolSpec(poolWith((p) => (p.ips[1].address = address))).map((i) => i.message);
    assert.deepEqual(verdict('2001:db8::1:0:0:1'), []);
    assert.match(verdict('2001:db8:0:0:1:0:0:1').join(), /canonical/);
    assert.match(verdict('2001:0db8::1').join(), /canonical/);
    assert.match(verdict('1:2:3:4:5:6:7::').join(), /canonical/);
    assert.deepEqual(verdict('1:2:3:4:5:6:7:0'), []);
    assert.match(verdict('2001:db8::1::2').join(), /IPv4 or IPv6/);
    assert.match(verdict('1:2:3:4:5:6:7:8:9').join(), /IPv4 or IPv6/);
  });

  it('skips the CEL rules, as the API server does, once a field has the wrong type', () => {
    const issues = validateRelayPoolSpec(
      poolWith((p) => {
        p.timeZone = 9;
        p.ips[1].address = p.ips[0].address;
      }),
    );
    assert.deepEqual(
      issues.map((i) => i.field),
      ['spec.timeZone', ''],
    );
    assert.match(issues[1]!.message, /some validation rules were not checked/);
  });

  it('reads the spec without changing it', () => {
    const pool = validPool();
    const before = structuredClone(pool);
    validateRelayPoolSpec(pool);
    assert.deepEqual(pool, before);
  });

  it('names every problem at once', () => {
    const fields = fieldsOf(
      poolWith((p) => {
        p.allowedNetworks = ['10.0.0.1/40'];
        p.retry.maxAge = 'forever';
        p.dkim[0].privateKeySecretRef = { name: 'k', key: 'pem' };
      }),
    );
    assert.deepEqual(fields.sort(), [
      'spec.allowedNetworks[0]',
      'spec.dkim[0]',
      'spec.retry.maxAge',
    ]);
  });
});

describe('parseRelayPoolYaml', () => {
  it('fills in the defaults', () => {
    const pool = parseRelayPoolYaml(
      toYaml({
        ips: [{ address: '203.0.113.10', hostname: 'mta1.example.com' }],
        warmup: { schedule: [{ day: 1, dailyLimit: 50 }] },
        ratePolicies: [{ name: 'gmail', match: { domains: ['gmail.com'] }, onThrottle: {} }],
      }),
      'pool.yaml',
    );
    const spec = pool.spec;
    assert.deepEqual(spec.senders, { ipsPerPod: 1 });
    assert.deepEqual(spec.retry, { schedule: ['1m', '5m', '15m', '1h', '4h'], maxAge: '72h' });
    assert.deepEqual(spec.bounces, { suppressHardBounces: true, notifySender: true });
    assert.equal(spec.warmup?.overflow, 'defer');
    assert.equal(spec.warmup?.minDeliveredRatio, 0.9);
    // A policy takes what it leaves out from the "default" policy, so none is filled in.
    assert.deepEqual(spec.ratePolicies?.[0], {
      name: 'gmail',
      match: { domains: ['gmail.com'] },
      onThrottle: {},
    });
    assert.equal(spec.timeZone, 'UTC');
    assert.equal(spec.maxMessageSize, 26214400);
    assert.equal(spec.maxRecipients, 1000);
  });

  it('keeps what the file sets over the defaults', () => {
    const pool = parseRelayPoolYaml(
      toYaml({
        ips: [{ address: '203.0.113.10', hostname: 'mta1.example.com' }],
        retry: { maxAge: '24h' },
        bounces: { notifySender: false },
      }),
      'pool.yaml',
    );
    assert.deepEqual(pool.spec.retry, { maxAge: '24h', schedule: ['1m', '5m', '15m', '1h', '4h'] });
    assert.deepEqual(pool.spec.bounces, { notifySender: false, suppressHardBounces: true });
  });

  it('treats an empty section like an absent one, as the API server prunes nulls', () => {
    const text = [
      'apiVersion: hikyaku.io/v1alpha1',
      'kind: RelayPool',
      'metadata: {name: demo}',
      'spec:',
      '  ips: [{address: 127.0.0.2, hostname: mta1.hikyaku.test}]',
      '  retry:',
    ].join('\n');
    assert.equal(parseRelayPoolYaml(text, 'pool.yaml').spec.retry?.maxAge, '72h');
  });

  describe('refuses what kubectl reads otherwise or cannot parse (YAML 1.1 there)', () => {
    const pool = (line: string) =>
      [
        'apiVersion: hikyaku.io/v1alpha1',
        'kind: RelayPool',
        'metadata: {name: demo}',
        'spec:',
        '  ips: [{address: 127.0.0.2, hostname: mta1.hikyaku.test}]',
        '  ratePolicies:',
        '    - name: docomo',
        '      match: {domains: [docomo.ne.jp]}',
        '      onThrottle:',
        line,
      ].join('\n');
    const refused: [string, string, RegExp][] = [
      [
        'a "?" in a flow sequence',
        '        patterns: [TSS?04, temporarily deferred]',
        /line 10: kubectl cannot parse the unquoted "TSS\?04" inside \[\.\.\.\] or \{\.\.\.\} .*quote it, "TSS\?04"/,
      ],
      [
        'a YAML 1.1 boolean',
        '        patterns: [yes]',
        /line 10: kubectl reads the unquoted yes as the boolean true \(YAML 1\.1\): quote it, "yes", or write true/,
      ],
      [
        'a YAML 1.1 boolean key',
        '        off: 1',
        /line 10: kubectl reads the unquoted off as the boolean false/,
      ],
      [
        'an octal number',
        '        patterns: [0123]',
        /line 10: kubectl reads the unquoted 0123 as the number 83 \(YAML 1\.1\)/,
      ],
      [
        'digits with underscores',
        '        patterns: [1_000]',
        /line 10: kubectl reads the unquoted 1_000 as the number 1000/,
      ],
    ];
    for (const [what, line, message] of refused) {
      it(`refuses ${what}, naming the line and the fix`, () => {
        assert.throws(
          () => parseRelayPoolYaml(pool(line), 'pool.yaml'),
          (err: unknown) => {
            assert.ok(err instanceof InvalidPoolError);
            assert.match(err.message, message);
            return true;
          },
        );
      });
    }

    it('accepts the same values quoted, and what both read alike', () => {
      const text = pool('        patterns: ["TSS?04", "yes", "0123", "1_000", TSS04, deferred]');
      const parsed = parseRelayPoolYaml(text, 'pool.yaml');
      assert.deepEqual(parsed.spec.ratePolicies?.[0]?.onThrottle?.patterns, [
        'TSS?04',
        'yes',
        '0123',
        '1_000',
        'TSS04',
        'deferred',
      ]);
    });
  });

  it('returns the resource without status', () => {
    const pool = parseRelayPoolYaml(
      JSON.stringify({
        ...JSON.parse(toYaml({ ips: [{ address: '203.0.113.10', hostname: 'mta1.example.com' }] })),
        metadata: { name: 'mail', namespace: 'prod', labels: { team: 'shop' } },
        status: { observedGeneration: 1 },
      }),
      'pool.yaml',
    );
    assert.equal(pool.apiVersion, 'hikyaku.io/v1alpha1');
    assert.deepEqual(pool.metadata, { name: 'mail', namespace: 'prod', labels: { team: 'shop' } });
    assert.equal(pool.status, undefined);
  });

  it('throws HIKYAKU_INVALID_POOL listing each bad field', () => {
    const spec = poolWith((p) => {
      p.ips[1].address = p.ips[0].address;
      p.retry.maxAge = '3 days';
    });
    assert.throws(
      () => parseRelayPoolYaml(toYaml(spec), 'pools/bad.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof InvalidPoolError);
        assert.equal(err.code, 'HIKYAKU_INVALID_POOL');
        assert.equal(err.fileName, 'pools/bad.yaml');
        assert.deepEqual(
          err.issues.map((i) => i.field),
          ['spec.retry.maxAge', 'spec.ips'],
        );
        assert.match(err.message, /^pools\/bad\.yaml: not a valid RelayPool:/);
        assert.match(err.message, /\n {2}spec\.retry\.maxAge: Invalid value: "3 days"/);
        assert.match(
          err.message,
          /\n {2}spec\.ips: Invalid value: "array": IP addresses must be unique/,
        );
        return true;
      },
    );
  });

  it('checks what the resource is and what it is called', () => {
    const text = JSON.stringify({
      apiVersion: 'hikyaku.io/v1',
      kind: 'Pool',
      metadata: { name: 'Bad_Name' },
      spec: validPool(),
      extra: true,
    });
    assert.throws(
      () => parseRelayPoolYaml(text, 'pool.yaml'),
      (err: InvalidPoolError) => {
        assert.deepEqual(
          err.issues.map((i) => i.field),
          ['extra', 'apiVersion', 'kind', 'metadata.name'],
        );
        return true;
      },
    );
    assert.throws(
      () => parseRelayPoolYaml(toYaml(undefined), 'pool.yaml'),
      (err: InvalidPoolError) => err.issues[0]?.field === 'spec',
    );
  });

  it('limits the name as the CRD does, so sender pod names stay valid', () => {
    const named = (name: string) =>
      JSON.stringify({
        apiVersion: 'hikyaku.io/v1alpha1',
        kind: 'RelayPool',
        metadata: { name },
        spec: validPool(),
      });
    assert.equal(parseRelayPoolYaml(named('p'.repeat(45)), 'pool.yaml').metadata.name.length, 45);
    assert.throws(
      () => parseRelayPoolYaml(named('p'.repeat(46)), 'pool.yaml'),
      (err: InvalidPoolError) =>
        err.issues.length === 1 &&
        err.issues[0]?.field === 'metadata.name' &&
        /Too long: may not be more than 45 bytes/.test(err.issues[0].message),
    );
  });

  it('reports broken YAML and files with more than one document', () => {
    assert.throws(
      () => parseRelayPoolYaml('spec:\n  ips: [\n', 'broken.yaml'),
      (err: unknown) => err instanceof InvalidPoolError && /broken\.yaml/.test(err.message),
    );
    assert.throws(
      () => parseRelayPoolYaml(`${toYaml(validPool())}\n---\n${toYaml(validPool())}\n`, 'two.yaml'),
      /expected one YAML document, found 2/,
    );
    // Each level repeats the previous one ten times: 100,000 x's from a few lines.
    const levels = ['a', 'b', 'c', 'd', 'e', 'f'];
    const bomb = levels.map((name, i) =>
      i === 0
        ? 'a: &a [x, x, x, x, x, x, x, x, x, x]'
        : `${name}: &${name} [${Array(10)
            .fill(`*${levels[i - 1]}`)
            .join(', ')}]`,
    );
    assert.throws(
      () => parseRelayPoolYaml(bomb.join('\n'), 'bomb.yaml'),
      (err: unknown) => err instanceof InvalidPoolError && /alias/i.test(err.message),
    );
    assert.throws(
      () => parseRelayPoolYaml('spec: {}\nspec: {}\n', 'dup.yaml'),
      (err: unknown) => err instanceof InvalidPoolError && /unique/i.test(err.message),
    );
  });
});
