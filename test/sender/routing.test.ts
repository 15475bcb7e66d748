/**
 * Routing end to end: jobs go through the sender, whose resolver asks a DNS server this
 * test runs, and land at (or are refused before) receivers on loopback addresses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '@hikyaku/testing';
import { type SenderFixture, startSenderFixture, testMessage } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

const MX_A = '127.0.5.11';
const MX_B = '127.0.5.12';
const IMPLICIT = '127.0.5.13';
/** Nothing listens here: connections are refused. */
const DOWN = '127.0.5.14';
const BUSY = '127.0.5.15';

let dns: TestDnsServer;
let receivers: Receiver[];
let a: Receiver;
let b: Receiver;
let implicit: Receiver;
let fixture: SenderFixture;

before(async () => {
  receivers = await startReceivers([MX_A, MX_B, IMPLICIT, BUSY]);
  [a, b, implicit] = receivers as [Receiver, Receiver, Receiver];
  (receivers[3] as Receiver).setBehaviour({
    greeting: { code: 421, message: '4.3.2 Service not available, try later' },
  });
  dns = await startDnsServer({
    records: {
      'ordered.test': {
        mx: [
          { preference: 20, exchange: 'mx-b.ordered.test' },
          { preference: 10, exchange: 'mx-a.ordered.test' },
        ],
      },
      'mx-a.ordered.test': { a: [MX_A] },
      'mx-b.ordered.test': { a: [MX_B] },
      'equal.test': {
        mx: [
          { preference: 10, exchange: 'one.equal.test' },
          { preference: 10, exchange: 'two.equal.test' },
        ],
      },
      'one.equal.test': { a: [MX_A] },
      'two.equal.test': { a: [MX_B] },
      'nomx.test': { a: [IMPLICIT] },
      'nullmx.test': { mx: [{ preference: 0, exchange: '.' }] },
      'fallback.test': {
        mx: [
          { preference: 10, exchange: 'down.fallback.test' },
          { preference: 20, exchange: 'up.fallback.test' },
        ],
      },
      'down.fallback.test': { a: [DOWN] },
      'up.fallback.test': { a: [MX_B] },
      'busy.test': {
        mx: [
          { preference: 10, exchange: 'busy.busy.test' },
          { preference: 20, exchange: 'calm.busy.test' },
        ],
      },
      'busy.busy.test': { a: [BUSY] },
      'calm.busy.test': { a: [MX_B] },
    },
    servfail: ['broken.test'],
  });
  fixture = await startSenderFixture({
    env: {
      HIKYAKU_DNS_SERVERS: dns.address,
      HIKYAKU_MX_PORT: String(a.port),
    },
  });
});

after(async () => {
  await fixture?.stop();
  await dns?.stop();
  await Promise.all((receivers ?? []).map((r) => r.close()));
});

function markerOf(raw: Buffer): string | undefined {
  return /^Subject: (\S+)/m.exec(raw.toString('latin1'))?.[1];
}

describe('MX routing', () => {
  it('delivers to the most preferred MX host, and caches the MX answer', async () => {
    dns.resetQueries();
    for (const marker of ['ordered-1', 'ordered-2']) {
      const job = await fixture.submit({
        rcpts: [`${marker}@ordered.test`],
        raw: testMessage({ from: 'news@shop.test', to: `${marker}@ordered.test`, subject: marker }),
      });
      const result = await fixture.result(job);
      assert.equal(result.outcomes[0]?.status, 'delivered', JSON.stringify(result.outcomes));
      assert.equal(result.outcomes[0]?.remoteHost, 'mx-a.ordered.test');
    }
    assert.deepEqual(
      a.messages.map((m) => markerOf(m.raw)).filter((m) => m?.startsWith('ordered')),
      ['ordered-1', 'ordered-2'],
    );
    assert.equal(b.messages.length, 0);
    assert.equal(dns.queryCount('ordered.test', 'MX'), 1, 'the second job used the cached MX');
  });

  it('spreads mail over MX hosts of equal preference', async () => {
    const jobs = await Promise.all(
      Array.from({ length: 24 }, (_, i) => fixture.submit({ rcpts: [`eq${i}@equal.test`] })),
    );
    const results = await Promise.all(jobs.map((job) => fixture.result(job)));
    const hosts = new Set(results.map((r) => r.outcomes[0]?.remoteHost));
    assert.deepEqual([...hosts].sort(), ['one.equal.test', 'two.equal.test']);
  });

  it('falls back to the address of a domain without MX', async () => {
    const job = await fixture.submit({ rcpts: ['someone@nomx.test'] });
    const result = await fixture.result(job);
    assert.equal(result.outcomes[0]?.status, 'delivered');
    assert.equal(result.outcomes[0]?.remoteHost, 'nomx.test');
    assert.deepEqual(
      implicit.messages.map((m) => m.rcpts),
      [['someone@nomx.test']],
    );
  });

  it('fails mail to a null MX domain permanently with 556 5.1.10', async () => {
    const job = await fixture.submit({ rcpts: ['x@nullmx.test', 'y@nullmx.test'] });
    const result = await fixture.result(job);
    assert.deepEqual(
      result.outcomes.map((o) => [o.rcpt, o.status, o.code, o.enhanced, o.errorCode]),
      [
        ['x@nullmx.test', 'failed', 556, '5.1.10', 'HIKYAKU_NULL_MX'],
        ['y@nullmx.test', 'failed', 556, '5.1.10', 'HIKYAKU_NULL_MX'],
      ],
    );
  });

  it('fails mail to a domain that does not exist (NXDOMAIN) permanently', async () => {
    const job = await fixture.submit({ rcpts: ['x@nonexistent.test'] });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.deepEqual([outcome?.status, outcome?.code, outcome?.enhanced], ['failed', 550, '5.1.2']);
  });

  it('defers mail when DNS answers SERVFAIL', async () => {
    const job = await fixture.submit({ rcpts: ['x@broken.test'] });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.deepEqual(
      [outcome?.status, outcome?.code, outcome?.enhanced, outcome?.errorCode],
      ['deferred', 451, '4.4.3', 'HIKYAKU_DNS_TEMPORARY'],
    );
  });

  it('delivers via the second MX when the first refuses connections', async () => {
    const job = await fixture.submit({ rcpts: ['x@fallback.test'] });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.equal(outcome?.status, 'delivered');
    assert.equal(outcome?.remoteHost, 'up.fallback.test');
    assert.ok(b.messages.some((m) => m.rcpts.includes('x@fallback.test')));
  });

  it('delivers via the second MX when the first greets with 4xx', async () => {
    const job = await fixture.submit({ rcpts: ['x@busy.test'] });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.equal(outcome?.status, 'delivered');
    assert.equal(outcome?.remoteHost, 'calm.busy.test');
    assert.ok((receivers[3] as Receiver).stats.connections >= 1, 'the busy host was tried');
  });
});
