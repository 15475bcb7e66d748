import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RatePolicySpec } from '../pool/spec.ts';
import { MINUTE, SECOND } from './duration.ts';
import { PolicyError } from './errors.ts';
import {
  createRatePolicyMatcher,
  DEFAULT_PER_IP_RATE,
  DEFAULT_RATE_POLICY_NAME,
  hostPatternMatches,
  matchRatePolicy,
  normaliseHostName,
  resolveRatePolicies,
} from './rate-policy.ts';

const SPECS: RatePolicySpec[] = [
  {
    name: 'docomo',
    match: { domains: ['docomo.ne.jp'], mxHosts: ['*.docomo.ne.jp'] },
    perIp: { messagesPerMinute: 60, connections: 2, messagesPerConnection: 20 },
    onThrottle: { pause: '10m', factor: 0.5, recoverAfter: '1h' },
  },
  { name: 'gmail', match: { mxHosts: ['*.google.com', '*.googlemail.com'] } },
  { name: 'example-subdomains', match: { domains: ['*.example.com'] }, tls: 'required' },
];

function badPolicy(name: string, message: RegExp) {
  return (error: unknown) =>
    error instanceof PolicyError &&
    error.code === 'HIKYAKU_BAD_RATE_POLICY' &&
    error.message.includes(JSON.stringify(name)) &&
    message.test(error.message);
}

test('with no policies there is only the default, with the documented defaults', () => {
  const [only, ...rest] = resolveRatePolicies();
  assert.equal(rest.length, 0);
  assert.deepEqual(only, {
    name: DEFAULT_RATE_POLICY_NAME,
    match: { domains: [], mxHosts: [] },
    perIp: {
      messagesPerMinute: 300,
      connections: 10,
      messagesPerConnection: 100,
      recipientsPerMessage: 100,
    },
    poolMessagesPerMinute: null,
    onThrottle: { pause: MINUTE, factor: 0.5, recoverAfter: 90 * SECOND, patterns: [] },
    tls: 'opportunistic',
  });
  assert.deepEqual(only?.perIp, DEFAULT_PER_IP_RATE);
});

test('policies keep their order, the default comes last, and every field is filled', () => {
  const policies = resolveRatePolicies(SPECS);
  assert.deepEqual(
    policies.map((p) => p.name),
    ['docomo', 'gmail', 'example-subdomains', 'default'],
  );
  const docomo = policies[0];
  assert.deepEqual(docomo?.perIp, {
    messagesPerMinute: 60,
    connections: 2,
    messagesPerConnection: 20,
    recipientsPerMessage: 100,
  });
  assert.deepEqual(docomo?.match, { domains: ['docomo.ne.jp'], mxHosts: ['*.docomo.ne.jp'] });
  assert.equal(policies[2]?.tls, 'required');
  assert.ok(Object.isFrozen(policies) && Object.isFrozen(docomo) && Object.isFrozen(docomo?.perIp));
  assert.deepEqual(JSON.parse(JSON.stringify(policies)), policies, 'plain JSON data');
});

test('a declared default changes the defaults every other policy falls back on', () => {
  const policies = resolveRatePolicies([
    { name: 'docomo', match: { domains: ['docomo.ne.jp'] }, perIp: { connections: 2 } },
    {
      name: 'default',
      perIp: { messagesPerMinute: 120, recipientsPerMessage: 50 },
      poolMessagesPerMinute: 1000,
      onThrottle: { pause: '5m', patterns: ['slow ?down'] },
      tls: 'required',
    },
  ]);
  const [docomo, fallback] = policies;
  assert.equal(fallback?.name, 'default');
  assert.deepEqual(docomo?.perIp, {
    messagesPerMinute: 120,
    connections: 2,
    messagesPerConnection: 100,
    recipientsPerMessage: 50,
  });
  assert.equal(docomo?.poolMessagesPerMinute, 1000);
  assert.deepEqual(docomo?.onThrottle, {
    pause: 5 * MINUTE,
    factor: 0.5,
    recoverAfter: 90 * SECOND,
    patterns: ['slow ?down'],
  });
  assert.equal(docomo?.tls, 'required');
});

test('a policy overrides single throttle fields and keeps the rest from the default', () => {
  const [own] = resolveRatePolicies([
    { name: 'a', match: { domains: ['a.example'] }, onThrottle: { factor: 0.25, patterns: [] } },
    { name: 'default', onThrottle: { pause: '1m', patterns: ['x'] } },
  ]);
  assert.deepEqual(own?.onThrottle, {
    pause: MINUTE,
    factor: 0.25,
    recoverAfter: 90 * SECOND,
    patterns: [],
  });
});

test('first match wins, on the recipient domain or any MX host', () => {
  const match = createRatePolicyMatcher(resolveRatePolicies(SPECS));
  assert.equal(match({ domain: 'docomo.ne.jp' }).name, 'docomo');
  assert.equal(match({ domain: 'DoCoMo.NE.JP.' }).name, 'docomo', 'case and trailing dot ignored');
  assert.equal(
    match({ domain: 'gmail.com', mxHosts: ['gmail-smtp-in.l.google.com.'] }).name,
    'gmail',
  );
  assert.equal(
    match({ domain: 'shop.example.org', mxHosts: ['aspmx.l.google.com'] }).name,
    'gmail',
  );
  assert.equal(match({ domain: 'x.example.com', mxHosts: ['mfsmax.docomo.ne.jp'] }).name, 'docomo');
  assert.equal(match({ domain: 'mail.example.com' }).name, 'example-subdomains');
  assert.equal(match({ domain: 'example.com' }).name, 'default', 'a wildcard needs a subdomain');
  assert.equal(match({ domain: 'notdocomo.ne.jp' }).name, 'default');
  assert.equal(match({ domain: 'yahoo.co.jp', mxHosts: ['mx1.mail.yahoo.co.jp'] }).name, 'default');
});

test('matchRatePolicy is the same lookup without keeping the matcher', () => {
  const policies = resolveRatePolicies(SPECS);
  assert.equal(matchRatePolicy(policies, { domain: 'docomo.ne.jp' }), policies[0]);
});

test('host patterns: exact names, globs anywhere, dots matched literally', () => {
  assert.equal(hostPatternMatches('*.google.com', 'aspmx.l.google.com'), true);
  assert.equal(hostPatternMatches('*.google.com', 'google.com'), false);
  assert.equal(hostPatternMatches('*.google.com', 'evilgoogle.com'), false);
  assert.equal(hostPatternMatches('mx*.example.net', 'mx12.example.net'), true);
  assert.equal(hostPatternMatches('a.b', 'axb'), false);
  assert.equal(hostPatternMatches('Example.COM.', 'example.com'), true);
  assert.equal(normaliseHostName(' Mail.Example.COM.. '), 'mail.example.com');
});

test('names must be present and unique; only the default may lack a match', () => {
  assert.throws(
    () =>
      resolveRatePolicies([
        { name: 'a', match: { domains: ['a.example'] } },
        { name: 'a', match: { domains: ['b.example'] } },
      ]),
    badPolicy('a', /used twice/),
  );
  assert.throws(() => resolveRatePolicies([{ name: '' }]), badPolicy('', /needs a name/));
  assert.throws(
    () => resolveRatePolicies([{ name: 'lonely' }]),
    badPolicy('lonely', /matches|no domains/),
  );
  assert.throws(
    () => resolveRatePolicies([{ name: 'empty', match: { domains: [], mxHosts: [] } }]),
    badPolicy('empty', /no domains and no mxHosts/),
  );
  assert.throws(
    () => resolveRatePolicies([{ name: 'default', match: { domains: ['a.example'] } }]),
    badPolicy('default', /takes no match/),
  );
});

test('limits must be positive, and counts whole', () => {
  const withPerIp = (perIp: RatePolicySpec['perIp']) =>
    resolveRatePolicies([{ name: 'p', match: { domains: ['p.example'] }, perIp }]);
  assert.throws(
    () => withPerIp({ messagesPerMinute: 0 }),
    badPolicy('p', /perIp\.messagesPerMinute/),
  );
  assert.throws(
    () => withPerIp({ connections: 1.5 }),
    badPolicy('p', /perIp\.connections must be a whole/),
  );
  assert.throws(
    () => withPerIp({ recipientsPerMessage: -1 }),
    badPolicy('p', /recipientsPerMessage/),
  );
  assert.equal(withPerIp({ messagesPerMinute: 0.5 })[0]?.perIp.messagesPerMinute, 0.5);
  assert.throws(
    () => resolveRatePolicies([{ name: 'default', poolMessagesPerMinute: 0 }]),
    badPolicy('default', /poolMessagesPerMinute/),
  );
});

test('bad patterns and bad throttle settings are refused naming the policy field', () => {
  assert.throws(
    () => resolveRatePolicies([{ name: 'p', match: { mxHosts: ['bad host'] } }]),
    badPolicy('p', /match\.mxHosts\[0\] "bad host"/),
  );
  assert.throws(
    () => resolveRatePolicies([{ name: 'p', match: { domains: ['a..b'] } }]),
    badPolicy('p', /match\.domains\[0\]/),
  );
  assert.throws(
    () =>
      resolveRatePolicies([
        { name: 'p', match: { domains: ['p.example'] }, onThrottle: { patterns: ['ok', '(bad'] } },
      ]),
    (error: unknown) =>
      error instanceof PolicyError &&
      error.code === 'HIKYAKU_BAD_THROTTLE' &&
      error.message.includes('ratePolicies[p].onThrottle.patterns[1] "(bad"'),
  );
  assert.throws(
    () =>
      resolveRatePolicies([
        { name: 'p', match: { domains: ['p.example'] }, onThrottle: { pause: 'soon' } },
      ]),
    /ratePolicies\[p\]\.onThrottle\.pause: bad duration "soon"/,
  );
  assert.throws(
    () =>
      resolveRatePolicies([
        { name: 'p', match: { domains: ['p.example'] }, tls: 'sometimes' as 'required' },
      ]),
    badPolicy('p', /tls must be/),
  );
});

test('a matcher needs the default policy among the resolved ones', () => {
  const withoutDefault = resolveRatePolicies(SPECS).filter((p) => p.name !== 'default');
  assert.throws(
    () => createRatePolicyMatcher(withoutDefault),
    badPolicy('default', /lack the default/),
  );
});
