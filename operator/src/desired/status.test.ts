import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledPool } from '@hikyaku/core';
import { REASONS } from '../errors.ts';
import type { RelayPoolStatus } from '../kube/objects.ts';
import { buildIpRows } from './ip-rows.ts';
import { buildPoolStatus, metaTime, type StatusInput } from './status.ts';

const T0 = Date.parse('2026-11-30T10:00:00Z');

function input(overrides: Partial<StatusInput> = {}): StatusInput {
  return {
    generation: 3,
    now: T0,
    previous: undefined,
    senders: { desired: 2, ready: 2, upToDate: true },
    draining: [],
    unassignable: [],
    rows: [],
    totalIps: 2,
    sendersReadyTimeoutMs: 600_000,
    ...overrides,
  };
}

const summary = (s: RelayPoolStatus) =>
  Object.fromEntries(s.conditions.map((c) => [c.type, `${c.status}/${c.reason}`]));

describe('buildPoolStatus', () => {
  it('a pool whose senders are all ready is Ready, not progressing, not degraded', () => {
    const s = buildPoolStatus(input());
    assert.deepEqual(summary(s), {
      Ready: 'True/SendersReady',
      Progressing: 'False/RolloutComplete',
      Degraded: 'False/AsExpected',
    });
    assert.equal(s.observedGeneration, 3);
    assert.ok(
      s.conditions.every(
        (c) => c.observedGeneration === 3 && c.lastTransitionTime === metaTime(T0),
      ),
    );
    assert.match(
      s.conditions[0]!.message,
      /2\/2 sender pods ready; policy of generation 3 published/,
    );
  });

  it('rolling out: Ready=False SendersNotReady, Progressing=True, Degraded only after the timeout', () => {
    const rolling = buildPoolStatus(input({ senders: { desired: 3, ready: 2, upToDate: false } }));
    assert.deepEqual(summary(rolling), {
      Ready: 'False/SendersNotReady',
      Progressing: 'True/RollingOut',
      Degraded: 'False/AsExpected',
    });
    const later = buildPoolStatus(
      input({
        now: T0 + 11 * 60_000,
        previous: rolling,
        senders: { desired: 3, ready: 2, upToDate: false },
      }),
    );
    assert.deepEqual(summary(later), {
      Ready: 'False/SendersNotReady',
      Progressing: 'True/RollingOut',
      Degraded: 'True/SendersNotReady',
    });
    assert.equal(
      later.conditions[0]!.lastTransitionTime,
      metaTime(T0),
      'unchanged status keeps its time',
    );
    assert.equal(later.conditions[2]!.lastTransitionTime, metaTime(T0 + 11 * 60_000));
    assert.match(
      later.conditions[2]!.message,
      /2\/3 sender pods ready, rollout in progress for 11 min/,
    );
  });

  it('a problem makes the pool Ready=False and Degraded=True with its reason and message', () => {
    const s = buildPoolStatus(
      input({
        problem: { reason: REASONS.SecretMissing, message: 'Secret mail/x does not exist' },
      }),
    );
    assert.deepEqual(summary(s), {
      Ready: 'False/SecretMissing',
      Progressing: 'False/SecretMissing',
      Degraded: 'True/SecretMissing',
    });
    assert.equal(s.conditions[2]!.message, 'Secret mail/x does not exist');
  });

  it('draining IPs make it Progressing; IPs another pool holds make it Degraded', () => {
    const s = buildPoolStatus(
      input({
        draining: [{ address: '192.0.2.9', jobs: 4 }],
        unassignable: [{ address: '192.0.2.8', why: '192.0.2.8 is already used by RelayPool a/b' }],
      }),
    );
    assert.deepEqual(summary(s), {
      Ready: 'True/SendersReady',
      Progressing: 'True/DrainingIps',
      Degraded: 'True/IpNotAssignable',
    });
    assert.match(s.conditions[1]!.message, /draining 192\.0\.2\.9 \(4 queued jobs\)/);
    assert.match(s.conditions[2]!.message, /already used by RelayPool a\/b/);
  });

  it('an assigned IP missing on its pod makes the pool Degraded, naming the IP and the pod', () => {
    const s = buildPoolStatus(
      input({ absentSources: [{ address: '203.0.113.10', pod: 'tx-sender-0' }] }),
    );
    assert.deepEqual(summary(s), {
      Ready: 'True/SendersReady',
      Progressing: 'False/RolloutComplete',
      Degraded: `True/${REASONS.SourceAddressAbsent}`,
    });
    assert.match(s.conditions[2]!.message, /203\.0\.113\.10 on pod tx-sender-0/);
  });

  it('a sender domain over its complaint rate makes the pool Degraded, naming it', () => {
    const s = buildPoolStatus(
      input({
        complaints: [
          { domain: 'news.example', level: 'warn', rate: 0.0015, held: false },
          { domain: 'shop.example', level: 'stop', rate: 0.0042, held: true },
        ],
      }),
    );
    assert.deepEqual(summary(s), {
      Ready: 'True/SendersReady',
      Progressing: 'False/RolloutComplete',
      Degraded: `True/${REASONS.ComplaintRateHigh}`,
    });
    assert.match(s.conditions[2]!.message, /news\.example 0\.15 % \(over the warn line\)/);
    assert.match(s.conditions[2]!.message, /shop\.example 0\.42 % \(bulk mail held until released/);
  });

  it('a submitter over its complaint rate makes the pool Degraded, naming it and how to release it', () => {
    const s = buildPoolStatus(
      input({
        submitterComplaints: [{ submitter: 'campaigns', level: 'stop', rate: 0.005, held: true }],
      }),
    );
    assert.equal(summary(s).Degraded, `True/${REASONS.ComplaintRateHigh}`);
    assert.match(
      s.conditions[2]!.message,
      /^complaint rate of submitters: campaigns 0\.50 % \(bulk mail held until released: hikyaku holds release --submitter\)$/,
    );
    const both = buildPoolStatus(
      input({
        complaints: [{ domain: 'news.example', level: 'warn', rate: 0.0015, held: false }],
        submitterComplaints: [{ submitter: 'billing', level: 'warn', rate: 0.002, held: false }],
      }),
    );
    assert.match(
      both.conditions[2]!.message,
      /sender domains: news\.example .*; complaint rate of submitters: billing 0\.20 % \(over the warn line\)/,
    );
  });

  it('Redis out of reach makes the pool Degraded, saying that mail waits', () => {
    const s = buildPoolStatus(input({ redisUnreachable: 'connect ECONNREFUSED 10.0.0.5:6379' }));
    assert.deepEqual(summary(s), {
      Ready: 'True/SendersReady',
      Progressing: 'False/RolloutComplete',
      Degraded: `True/${REASONS.RedisUnreachable}`,
    });
    assert.match(s.conditions[2]!.message, /ECONNREFUSED 10\.0\.0\.5:6379.*releases no mail/);
  });

  it('sums the rows', () => {
    const s = buildPoolStatus(
      input({
        rows: [
          { address: 'a', state: 'Warming', sentToday: 10, dailyLimit: 50, warmupDay: 1 },
          { address: 'b', state: 'Active', sentToday: 5 },
        ],
      }),
    );
    assert.equal(s.warmingIps, 1);
    assert.equal(s.sentToday, 15);
    assert.equal(s.readySenders, 2);
    assert.equal(s.totalSenders, 2);
  });
});

describe('buildIpRows', () => {
  const compiled = {
    ips: [
      { address: '192.0.2.1', hostname: 'a', pod: 'p-sender-0', warmupStartDate: '2026-11-01' },
      { address: '192.0.2.2', hostname: 'b', pod: 'p-sender-1' },
      { address: '192.0.2.3', hostname: 'c' },
      { address: '192.0.2.4', hostname: 'd', pod: 'p-sender-2', draining: true },
    ],
  } as CompiledPool;

  it('takes day, cap and count from the scheduler, the pod and state from the assignment', () => {
    const rows = buildIpRows(compiled, [
      { address: '192.0.2.1', warmupDay: 12, dailyLimit: 2000, sentToday: 40, state: 'Warming' },
      { address: '192.0.2.2', warmupDay: null, dailyLimit: null, sentToday: 3, state: 'Throttled' },
      { address: '192.0.2.3', warmupDay: null, dailyLimit: null, sentToday: 0, state: 'Active' },
      { address: '192.0.2.4', warmupDay: null, dailyLimit: null, sentToday: 9, state: 'Active' },
    ]);
    assert.deepEqual(rows, [
      {
        address: '192.0.2.1',
        pod: 'p-sender-0',
        warmupDay: 12,
        dailyLimit: 2000,
        sentToday: 40,
        state: 'Warming',
      },
      { address: '192.0.2.2', pod: 'p-sender-1', sentToday: 3, state: 'Throttled' },
      { address: '192.0.2.3', sentToday: 0, state: 'Unassigned' },
      { address: '192.0.2.4', pod: 'p-sender-2', sentToday: 9, state: 'Paused' },
    ]);
  });

  it('lists the sites that take less from an IP, as the scheduler learned them', () => {
    const site = (n: number) => ({
      site: `default:d${n}.example`,
      state: 'Throttled' as const,
      reason: 'rate' as const,
      messagesPerMinute: n,
      ceiling: n + 2,
    });
    const [row] = buildIpRows(compiled, [
      {
        address: '192.0.2.1',
        warmupDay: null,
        dailyLimit: null,
        sentToday: 1,
        state: 'Throttled',
        throttled: [
          { ...site(38), connections: 2, pausedUntil: 0 },
          ...Array.from({ length: 12 }, (_, i) => site(40 + i)),
        ],
      },
    ]);
    assert.equal(row?.throttled?.length, 10, 'the slowest ten, to keep the status small');
    assert.deepEqual(row?.throttled?.[0], { ...site(38), connections: 2 });
  });

  it('without counters, says only what the assignment knows', () => {
    assert.deepEqual(
      buildIpRows(compiled, undefined).map((r) => `${r.address} ${r.state}`),
      ['192.0.2.1 Warming', '192.0.2.2 Active', '192.0.2.3 Unassigned', '192.0.2.4 Paused'],
    );
  });
});
