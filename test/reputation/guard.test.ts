/**
 * The reputation guard in the running scheduler, against a DNS server and SMTP receivers
 * on loopback: an IP listed on the pool's blocklist stops getting jobs while the other IP
 * delivers everything; once delisted it resumes after the cool-down, not before; block
 * replies from a receiver pause an IP and its deferred mail goes out from the other one.
 * Nothing accepted is lost along the way.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openReputationStore, type ReputationStore } from '@hikyaku/core';
import { dnsblQueryName, type IpReputation } from '@hikyaku/core/policy';
import { createTestClock, runReputationCli } from '@hikyaku/scheduler';
import { type SmtpSink, startDnsServer, startSmtpSink, type TestDnsServer } from '@hikyaku/testing';
import {
  IP1,
  IP2,
  type ShapingFixture,
  startShapingFixture,
  waitFor,
} from '../scheduler/harness.ts';

const ZONE = 'bl.hikyaku.test';
const MINUTE = 60_000;
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 1 });
let dns: TestDnsServer;
let sink: SmtpSink;
let relay: ShapingFixture;
let store: ReputationStore;
let submitted = 0;

async function stateOf(address: string): Promise<IpReputation | undefined> {
  return (await store.get(relay.pool.key, address))?.state;
}

async function submit(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(await relay.submit({ to: [`user${submitted++}@rep.test`] }));
  }
  return ids;
}

function deliveredFrom(ids: readonly string[]): Map<string, number> {
  const wanted = new Set(ids);
  const counts = new Map<string, number>();
  for (const e of relay.eventsOf('delivered')) {
    if (wanted.has(e.id)) counts.set(e.ip ?? '?', (counts.get(e.ip ?? '?') ?? 0) + 1);
  }
  return counts;
}

function deliveredCount(ids: readonly string[]): number {
  return [...deliveredFrom(ids).values()].reduce((a, b) => a + b, 0);
}

before(async () => {
  dns = await startDnsServer({
    records: { [dnsblQueryName(IP1.address, ZONE)]: { a: ['127.0.0.2'] } },
  });
  sink = await startSmtpSink({ host: '127.0.0.21', port: 0, keep: false });
  relay = await startShapingFixture({
    clock,
    env: {
      HIKYAKU_DNS_SERVERS: dns.address,
      HIKYAKU_REPUTATION_DNS_SERVERS: dns.address,
      HIKYAKU_REPUTATION_TICK_MS: '100',
      HIKYAKU_SCHEDULER_MAX_PARK_MS: '1000',
    },
    spec: {
      ips: [IP1, IP2],
      routes: [{ domains: ['rep.test'], host: `127.0.0.21:${sink.port}` }],
      retry: { schedule: ['10s'], maxAge: '1d' },
      reputation: {
        checkPrivateAddresses: true,
        checkInterval: '1m',
        coolDown: '10m',
        dnsbl: [{ zone: ZONE }],
        fcrdns: 'off',
        blockReplies: { window: '1h', minAttempts: 4, threshold: 0.5 },
      },
    },
  });
  store = await openReputationStore(relay.admin.js);
});

after(async () => {
  await relay?.stop();
  await sink?.close();
  await dns?.stop();
});

test('a listed IP stops getting jobs; the other IP delivers everything', async () => {
  const paused = await waitFor('127.0.0.2 paused for its listing', async () => {
    const s = await stateOf(IP1.address);
    return s?.paused ? s : undefined;
  });
  assert.equal(paused.paused?.reason, 'listed');
  assert.match(paused.paused?.detail ?? '', /bl\.hikyaku\.test/);
  assert.deepEqual(
    paused.listings.map((l) => l.zone),
    [ZONE],
  );
  assert.equal((await stateOf(IP2.address))?.paused, undefined);
  assert.ok(dns.queryCount(dnsblQueryName(IP1.address, ZONE), 'A') >= 1);

  const ids = await submit(12);
  await waitFor('every message delivered', () => deliveredCount(ids) === ids.length, {
    timeoutMs: 60_000,
  });
  assert.deepEqual([...deliveredFrom(ids)], [[IP2.address, ids.length]]);
  assert.ok(sink.messages.every((m) => m.peerAddress === IP2.address));
  assert.equal(relay.eventsOf('bounced').length, 0);
  assert.ok(relay.eventsOf('scheduled').every((e) => e.ip === IP2.address));
});

test('a delisted IP resumes after the cool-down, not before', async () => {
  dns.setRecords({});
  clock.advance(2 * MINUTE);
  const cleared = await waitFor('the delisting seen', async () => {
    const s = await stateOf(IP1.address);
    return s?.clearedAt !== undefined ? s : undefined;
  });
  assert.deepEqual(cleared.listings, []);
  assert.equal(cleared.paused?.reason, 'listed', 'still paused during the cool-down');

  clock.advance(10 * MINUTE);
  await waitFor(
    '127.0.0.2 resumed',
    async () => (await stateOf(IP1.address))?.paused === undefined,
  );
  const ids = await submit(12);
  await waitFor('every message delivered', () => deliveredCount(ids) === ids.length, {
    timeoutMs: 60_000,
  });
  assert.ok((deliveredFrom(ids).get(IP1.address) ?? 0) > 0, 'the resumed IP sends again');
});

test('block replies from a receiver pause the IP; its mail goes out from the other IP', async () => {
  sink.setBehaviour({
    onRcpt(_rcpt, session) {
      if (session.remoteAddress !== IP1.address) return undefined;
      return { code: 451, message: `4.7.1 Client host [${IP1.address}] blocked using ${ZONE}` };
    },
  });
  const ids = await submit(16);
  const paused = await waitFor(
    '127.0.0.2 paused for block replies',
    async () => {
      const s = await stateOf(IP1.address);
      return s?.paused ? s : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(paused.paused?.reason, 'block-replies');
  assert.ok((paused.receivers?.blocked ?? 0) >= 4);
  // The refused recipients were deferred, not bounced, and retried from the healthy IP.
  clock.advance(MINUTE);
  await waitFor('every message delivered', () => deliveredCount(ids) === ids.length, {
    timeoutMs: 60_000,
  });
  assert.deepEqual([...deliveredFrom(ids)], [[IP2.address, ids.length]]);
  assert.equal(relay.eventsOf('bounced').length, 0);
});

test('the CLI shows why an IP is paused and resumes it by hand', async () => {
  sink.setBehaviour({});
  const lines: string[] = [];
  const errors: string[] = [];
  const io = { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l), env: {} };
  const pool = ['--nats', relay.natsUrl, '--pool', relay.pool.key];
  assert.equal(await runReputationCli(['list', ...pool], io), 0);
  const line = lines.find((l) => l.startsWith(`${IP1.address}\t`));
  assert.match(line ?? '', /^127\.0\.0\.2\tPaused\tblock-replies since .*recipients refused/);
  assert.match(lines.find((l) => l.startsWith(`${IP2.address}\t`)) ?? '', /\tOk(\t|$)/);
  assert.match(line ?? '', /receivers: \d+ of \d+ refused for reputation or policy/);

  assert.equal(await runReputationCli(['resume', ...pool, IP1.address], io), 0);
  assert.ok(lines.includes(`resumed ${IP1.address}`));
  const resumed = await stateOf(IP1.address);
  assert.equal(resumed?.paused, undefined);
  assert.ok(resumed?.resumedAt !== undefined);
  const ids = await submit(8);
  await waitFor('every message delivered', () => deliveredCount(ids) === ids.length, {
    timeoutMs: 60_000,
  });
  assert.ok((deliveredFrom(ids).get(IP1.address) ?? 0) > 0, 'the resumed IP sends again');
  assert.equal((await stateOf(IP1.address))?.paused, undefined, 'and stays resumed');

  assert.equal(await runReputationCli(['resume', ...pool, 'not-an-ip'], io), 2);
  assert.match(errors.join('\n'), /"not-an-ip" is not an IP address/);
});

test('a pool whose every IP is paused says so and defers its mail instead of bouncing it', async () => {
  dns.setRecords({
    [dnsblQueryName(IP1.address, ZONE)]: { a: ['127.0.0.2'] },
    [dnsblQueryName(IP2.address, ZONE)]: { a: ['127.0.0.2'] },
  });
  clock.advance(2 * MINUTE);
  await waitFor('both IPs paused', async () => {
    const [a, b] = await Promise.all([stateOf(IP1.address), stateOf(IP2.address)]);
    return a?.paused?.reason === 'listed' && b?.paused?.reason === 'listed';
  });
  const registry = relay.schedulers[0]?.registry;
  assert.ok(registry);
  const metric = async (pattern: RegExp) => Number(pattern.exec(await registry.metrics())?.[1]);
  const pool = relay.pool.key;
  assert.equal(
    await metric(new RegExp(`hikyaku_pool_all_ips_paused\\{pool="${pool}"[^}]*\\} (\\d+)`)),
    1,
  );
  const noIp = new RegExp(
    `hikyaku_scheduler_deferrals_total\\{pool="${pool}",reason="no-active-ip"[^}]*\\} (\\d+)`,
  );
  const deferredBefore = (await metric(noIp)) || 0;

  const ids = await submit(4);
  await waitFor(
    'the mail deferred for want of an IP',
    async () => (await metric(noIp)) >= deferredBefore + 4,
  );
  const mine = new Set(ids);
  const touched = relay.events.filter((e) => mine.has(e.id) && e.type !== 'accepted');
  assert.deepEqual(
    touched.map((e) => e.type),
    [],
    'nothing scheduled, bounced or expired while every IP is paused',
  );

  dns.setRecords({});
  clock.advance(2 * MINUTE);
  await waitFor('the delisting of both seen', async () => {
    const [a, b] = await Promise.all([stateOf(IP1.address), stateOf(IP2.address)]);
    return a?.clearedAt !== undefined && b?.clearedAt !== undefined;
  });
  clock.advance(11 * MINUTE);
  await waitFor(
    'every message delivered once an IP resumed',
    () => deliveredCount(ids) === ids.length,
    {
      timeoutMs: 90_000,
    },
  );
  assert.equal(relay.eventsOf('bounced').length, 0);
});
