/**
 * MTA-STS (RFC 8461) end to end: the sender finds a recipient domain's policy through the
 * DNS server this test runs (TXT `_mta-sts.<domain>`, A `mta-sts.<domain>`), fetches it from
 * an HTTPS server whose certificate a test CA issued, and delivers to receivers whose
 * STARTTLS certificates the same CA issued — or, where they do not meet an enforced policy,
 * does not.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import {
  createDnsCache,
  createDnsClient,
  createMtaStsDiscovery,
  type DiscoveryFailure,
} from '@hikyaku/sender';
import { type DnsRecords, startDnsServer, type TestDnsServer } from '@hikyaku/testing';
import { makeCertificateAuthority, type TestCertificateAuthority } from '../ingress/certs.ts';
import { metricValue, type SenderFixture, startSenderFixture } from './harness.ts';
import { type PolicyServer, policyText, startPolicyServer } from './policy-server.ts';
import { type Receiver, startReceiver, startReceivers } from './receiver.ts';

const POLICY_HOST = '127.0.7.10';
/** STARTTLS with a certificate the test CA issued for the MX names below. */
const GOOD = '127.0.7.11';
/** No STARTTLS at all. */
const PLAIN = '127.0.7.12';
/** STARTTLS with a valid certificate, at an MX name a policy's patterns leave out. */
const OTHER = '127.0.7.13';
/** STARTTLS with a certificate the test CA issued for another name. */
const WRONG = '127.0.7.14';
/** Nothing listens here: the policy host of down.test cannot be reached. */
const NOWHERE = '127.0.7.15';
const METRIC = 'hikyaku_sender_mta_sts_total';

/** A domain with an MTA-STS TXT record and its policy host. */
function stsDomain(domain: string, id: string): DnsRecords {
  return {
    [`_mta-sts.${domain}`]: { txt: [`v=STSv1; id=${id};`] },
    [`mta-sts.${domain}`]: { a: [POLICY_HOST] },
  };
}

const STS_DOMAINS = [
  'enforce.test',
  'pattern.test',
  'notls.test',
  'wrongname.test',
  'testing.test',
  'malformed.test',
];

const RECORDS: DnsRecords = {
  'plain.test': { mx: [{ preference: 10, exchange: 'mx.plain.test' }] },
  'mx.plain.test': { a: [PLAIN] },
  ...stsDomain('enforce.test', '1'),
  'enforce.test': { mx: [{ preference: 10, exchange: 'mx.enforce.test' }] },
  'mx.enforce.test': { a: [GOOD] },
  ...stsDomain('pattern.test', '1'),
  'pattern.test': {
    mx: [
      { preference: 10, exchange: 'other.pattern.test' },
      { preference: 20, exchange: 'good.pattern.test' },
    ],
  },
  'other.pattern.test': { a: [OTHER] },
  'good.pattern.test': { a: [GOOD] },
  ...stsDomain('notls.test', '1'),
  'notls.test': { mx: [{ preference: 10, exchange: 'mx.notls.test' }] },
  'mx.notls.test': { a: [PLAIN] },
  ...stsDomain('wrongname.test', '1'),
  'wrongname.test': { mx: [{ preference: 10, exchange: 'mx.wrongname.test' }] },
  'mx.wrongname.test': { a: [WRONG] },
  ...stsDomain('testing.test', '1'),
  'testing.test': { mx: [{ preference: 10, exchange: 'mx.testing.test' }] },
  'mx.testing.test': { a: [PLAIN] },
  ...stsDomain('malformed.test', '1'),
  'malformed.test': { mx: [{ preference: 10, exchange: 'mx.malformed.test' }] },
  'mx.malformed.test': { a: [PLAIN] },
  'down.test': { mx: [{ preference: 10, exchange: 'mx.down.test' }] },
  'mx.down.test': { a: [PLAIN] },
  '_mta-sts.down.test': { txt: ['v=STSv1; id=1;'] },
  'mta-sts.down.test': { a: [NOWHERE] },
};

let dir: string;
let ca: TestCertificateAuthority;
let dns: TestDnsServer;
let policies: PolicyServer;
let good: Receiver;
let plain: Receiver;
let other: Receiver;
let wrong: Receiver;
let fixture: SenderFixture;

function receivedBy(receiver: Receiver, rcpt: string): boolean {
  return receiver.messages.some((m) => m.rcpts.includes(rcpt));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-mta-sts-'));
  ca = makeCertificateAuthority(dir, 'mta-sts');
  const goodCert = ca.issue('good', [
    'mx.enforce.test',
    'good.pattern.test',
    'mx.testing.test',
    'mx.malformed.test',
  ]);
  const otherCert = ca.issue('other', ['other.pattern.test']);
  const wrongCert = ca.issue('wrong', ['mx.elsewhere.test']);
  const policyCert = ca.issue('policy', [
    ...STS_DOMAINS.map((d) => `mta-sts.${d}`),
    'mta-sts.down.test',
  ]);

  [plain] = (await startReceivers([PLAIN])) as [Receiver];
  const port = plain.port;
  good = await startReceiver({ host: GOOD, port, starttls: true, certificate: goodCert });
  other = await startReceiver({ host: OTHER, port, starttls: true, certificate: otherCert });
  wrong = await startReceiver({ host: WRONG, port, starttls: true, certificate: wrongCert });
  policies = await startPolicyServer({
    host: POLICY_HOST,
    key: policyCert.key,
    cert: policyCert.cert,
  });
  policies.serve('mta-sts.enforce.test', { body: policyText('enforce', ['mx.enforce.test']) });
  policies.serve('mta-sts.pattern.test', { body: policyText('enforce', ['good.pattern.test']) });
  policies.serve('mta-sts.notls.test', { body: policyText('enforce', ['*.notls.test']) });
  policies.serve('mta-sts.wrongname.test', { body: policyText('enforce', ['mx.wrongname.test']) });
  policies.serve('mta-sts.testing.test', { body: policyText('testing', ['*.elsewhere.test']) });
  policies.serve('mta-sts.malformed.test', {
    body: 'version: STSv1\r\nmode: strictest\r\nmx: mx.malformed.test\r\nmax_age: 86400\r\n',
  });

  dns = await startDnsServer({ records: RECORDS });
  fixture = await startSenderFixture({
    env: {
      HIKYAKU_DNS_SERVERS: dns.address,
      HIKYAKU_MX_PORT: String(port),
      HIKYAKU_MTA_STS_PORT: String(policies.port),
      HIKYAKU_TLS_CA_FILE: ca.certFile,
    },
  });
});

after(async () => {
  await fixture?.stop();
  await dns?.stop();
  await policies?.close();
  await Promise.all([good, plain, other, wrong].map((r) => r?.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function mtaStsCount(labels: Record<string, string>): Promise<number> {
  return metricValue(await fixture.metrics(), METRIC, labels) ?? 0;
}

describe('MTA-STS', () => {
  it('without a TXT record, delivers opportunistically as before and fetches nothing', async () => {
    const job = await fixture.submit({ rcpts: ['a@plain.test'] });
    const result = await fixture.result(job);
    const [outcome] = result.outcomes;
    assert.equal(outcome?.status, 'delivered', JSON.stringify(result.outcomes));
    assert.equal(outcome?.mtaSts, undefined);
    assert.equal(result.tls, undefined);
    assert.ok(receivedBy(plain, 'a@plain.test'));
    assert.equal(dns.queryCount('_mta-sts.plain.test', 'TXT'), 1, 'the policy was looked for');
    assert.equal(policies.requestsFor('mta-sts.plain.test'), 0);
  });

  it('enforce: delivers over STARTTLS to an MX whose certificate verifies', async () => {
    const job = await fixture.submit({ rcpts: ['a@enforce.test'] });
    const result = await fixture.result(job);
    const [outcome] = result.outcomes;
    assert.equal(outcome?.status, 'delivered', JSON.stringify(result.outcomes));
    assert.equal(outcome?.mtaSts, 'enforce');
    assert.equal(outcome?.remoteHost, 'mx.enforce.test');
    assert.ok(result.tls, 'the result records TLS');
    const received = good.messages.find((m) => m.rcpts.includes('a@enforce.test'));
    assert.equal(received?.secure, true);
    assert.equal(policies.requestsFor('mta-sts.enforce.test'), 1);
    assert.equal(await mtaStsCount({ mode: 'enforce', result: 'validated' }), 1);

    // The policy is cached until its max_age: the next message does not fetch it again.
    const again = await fixture.submit({ rcpts: ['b@enforce.test'] });
    assert.equal((await fixture.result(again)).outcomes[0]?.mtaSts, 'enforce');
    assert.equal(policies.requestsFor('mta-sts.enforce.test'), 1);
  });

  it('enforce: skips an MX the patterns do not match and uses the one they do', async () => {
    const job = await fixture.submit({ rcpts: ['a@pattern.test'] });
    const result = await fixture.result(job);
    const [outcome] = result.outcomes;
    assert.equal(outcome?.status, 'delivered', JSON.stringify(result.outcomes));
    assert.equal(outcome?.remoteHost, 'good.pattern.test');
    assert.equal(outcome?.mtaSts, 'enforce');
    assert.equal(other.stats.connections, 0, 'the more preferred MX was not even contacted');
    assert.ok(receivedBy(good, 'a@pattern.test'));
    assert.ok((await mtaStsCount({ mode: 'enforce', result: 'mx_skipped' })) >= 1);
  });

  it('enforce: defers rather than send in clear text to an MX without STARTTLS', async () => {
    const job = await fixture.submit({ rcpts: ['a@notls.test', 'b@notls.test'] });
    const result = await fixture.result(job);
    for (const outcome of result.outcomes) {
      assert.deepEqual(
        [outcome.status, outcome.code, outcome.enhanced, outcome.errorCode, outcome.remoteHost],
        ['deferred', 451, '4.7.4', 'HIKYAKU_MTA_STS_FAILED', 'mx.notls.test'],
      );
      assert.match(
        outcome.text,
        /MTA-STS policy of notls\.test is enforced: mx\.notls\.test did not offer STARTTLS/,
      );
    }
    assert.equal(receivedBy(plain, 'a@notls.test'), false, 'nothing was sent in clear text');
    assert.ok((await mtaStsCount({ mode: 'enforce', result: 'failed' })) >= 1);
  });

  it('enforce: defers when the certificate is valid but for another name', async () => {
    const job = await fixture.submit({ rcpts: ['a@wrongname.test'] });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.deepEqual(
      [outcome?.status, outcome?.code, outcome?.enhanced, outcome?.errorCode],
      ['deferred', 451, '4.7.5', 'HIKYAKU_MTA_STS_FAILED'],
    );
    assert.match(outcome?.text ?? '', /certificate does not verify/);
    assert.match(outcome?.text ?? '', /mx\.wrongname\.test/);
    assert.equal(wrong.messages.length, 0, 'nothing was sent');
  });

  it('testing: delivers as before and counts what enforce would have refused', async () => {
    const job = await fixture.submit({ rcpts: ['a@testing.test'] });
    const result = await fixture.result(job);
    const [outcome] = result.outcomes;
    assert.equal(outcome?.status, 'delivered', JSON.stringify(result.outcomes));
    assert.equal(outcome?.mtaSts, 'testing');
    assert.ok(receivedBy(plain, 'a@testing.test'), 'delivered in clear text as before');
    assert.equal(await mtaStsCount({ mode: 'testing', result: 'would_fail' }), 1);
  });

  it('treats a malformed policy as none, and counts it', async () => {
    const job = await fixture.submit({ rcpts: ['a@malformed.test'] });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.equal(outcome?.status, 'delivered');
    assert.equal(outcome?.mtaSts, undefined);
    assert.ok(receivedBy(plain, 'a@malformed.test'));
    assert.equal(policies.requestsFor('mta-sts.malformed.test'), 1);
    assert.equal(await mtaStsCount({ mode: 'none', result: 'invalid_policy' }), 1);
  });

  it('delivers as without a policy when the policy host cannot be reached and none is cached', async () => {
    const job = await fixture.submit({ rcpts: ['a@down.test'] });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.equal(outcome?.status, 'delivered');
    assert.equal(outcome?.mtaSts, undefined);
    assert.ok(receivedBy(plain, 'a@down.test'));
    assert.equal(await mtaStsCount({ mode: 'none', result: 'fetch_failed' }), 1);
  });

  it('switched off (HIKYAKU_MTA_STS=off), consults no policy', async () => {
    const off = await startSenderFixture({
      env: {
        HIKYAKU_DNS_SERVERS: dns.address,
        HIKYAKU_MX_PORT: String(plain.port),
        HIKYAKU_MTA_STS_PORT: String(policies.port),
        HIKYAKU_TLS_CA_FILE: ca.certFile,
        HIKYAKU_MTA_STS: 'off',
      },
    });
    try {
      const txtBefore = dns.queryCount('_mta-sts.notls.test', 'TXT');
      const fetchesBefore = policies.requestsFor('mta-sts.notls.test');
      const job = await off.submit({ rcpts: ['off@notls.test'] });
      const [outcome] = (await off.result(job)).outcomes;
      assert.equal(outcome?.status, 'delivered', 'the enforced policy was not applied');
      assert.equal(outcome?.mtaSts, undefined);
      assert.ok(receivedBy(plain, 'off@notls.test'));
      assert.equal(dns.queryCount('_mta-sts.notls.test', 'TXT'), txtBefore);
      assert.equal(policies.requestsFor('mta-sts.notls.test'), fetchesBefore);
    } finally {
      await off.stop();
    }
  });
});

describe('MTA-STS policy cache', () => {
  const HOST = '127.0.7.20';
  const DOMAIN = 'cached.test';
  let cacheDns: TestDnsServer;
  let server: PolicyServer | undefined;

  const zone = (id: string): DnsRecords => ({
    [`_mta-sts.${DOMAIN}`]: { txt: [`v=STSv1; id=${id}`] },
    [`mta-sts.${DOMAIN}`]: { a: [HOST] },
  });

  before(async () => {
    cacheDns = await startDnsServer({ records: zone('1') });
  });

  after(async () => {
    await server?.close();
    await cacheDns?.stop();
  });

  it('refetches on a new id, and keeps the cached policy while the fetch fails', async () => {
    const cert = ca.issue('cached', [`mta-sts.${DOMAIN}`]);
    server = await startPolicyServer({ host: HOST, key: cert.key, cert: cert.cert });
    server.serve(`mta-sts.${DOMAIN}`, { body: policyText('enforce', [`mx.${DOMAIN}`]) });
    const clock = { t: 1_000_000, now: () => clock.t };
    const dnsClient = createDnsCache(createDnsClient({ servers: [cacheDns.address] }), { clock });
    const failures: DiscoveryFailure[] = [];
    const discovery = createMtaStsDiscovery({
      dns: dnsClient,
      clock,
      port: server.port,
      timeoutMs: 10_000,
      ca: [...rootCertificates, readFileSync(ca.certFile, 'utf8')],
      onFailure: (f) => failures.push(f),
    });
    try {
      const first = await discovery.policyFor(DOMAIN);
      assert.deepEqual([first?.id, first?.policy.mode], ['1', 'enforce']);

      // A new id (seen once the TXT answer's cache time is over) fetches the new policy.
      server.serve(`mta-sts.${DOMAIN}`, { body: policyText('testing', [`mx.${DOMAIN}`]) });
      cacheDns.setRecords(zone('2'));
      clock.t += 10 * 60_000;
      const second = await discovery.policyFor(DOMAIN);
      assert.deepEqual([second?.id, second?.policy.mode], ['2', 'testing']);
      assert.equal(server.requestsFor(`mta-sts.${DOMAIN}`), 2);

      // The policy host goes away and the id changes again: the cached policy still applies.
      await server.close();
      server = undefined;
      cacheDns.setRecords(zone('3'));
      clock.t += 10 * 60_000;
      const third = await discovery.policyFor(DOMAIN);
      assert.deepEqual([third?.id, third?.policy.mode], ['2', 'testing']);
      assert.deepEqual(
        failures.map((f) => [f.domain, f.kind, f.using]),
        [[DOMAIN, 'fetch', 'testing']],
      );

      // Past its max_age a cached policy is gone: without a live one there is none.
      clock.t += 86_400_000;
      assert.equal(await discovery.policyFor(DOMAIN), undefined);
    } finally {
      dnsClient.close();
    }
  });
});
