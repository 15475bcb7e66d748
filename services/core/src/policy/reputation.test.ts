import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadDurationError, BadReputationError } from './errors.ts';
import {
  applyDnsFindings,
  type DnsFindings,
  decidePause,
  dnsChecksDue,
  emptyReputation,
  fcrdnsVerdict,
  type IpReputation,
  nextCheckAt,
  reputationCondition,
  resumeByHand,
} from './reputation.ts';
import {
  DEFAULT_REPUTATION,
  type ReputationSettings,
  resolveReputationSettings,
} from './reputation-settings.ts';

const T0 = Date.parse('2026-12-01T09:00:00Z');
const MIN = 60_000;
const settings: ReputationSettings = resolveReputationSettings({
  coolDown: '30m',
  dnsbl: [{ zone: 'zen.spamhaus.org' }, { zone: 'bl.spamcop.net', action: 'warn' }],
  fcrdns: 'pause',
  blockReplies: { minAttempts: 10, threshold: 0.5 },
});
const at = (now: number) => ({
  now,
  generation: 1,
  nextCheckAt: now + 15 * MIN,
  hostname: 'mta1.example',
});
const listed = (zone: string, action: 'pause' | 'warn' = 'pause') => ({
  zone,
  action,
  answer: { kind: 'listed' as const, codes: ['127.0.0.2'], meaning: 'SBL' },
});
const clean = (zone: string, action: 'pause' | 'warn' = 'pause') => ({
  zone,
  action,
  answer: { kind: 'not-listed' as const },
});
const unknown = (zone: string) => ({
  zone,
  action: 'pause' as const,
  answer: { kind: 'unknown' as const, why: 'refused' },
});
const pass = { verdict: 'pass' as const, names: ['mta1.example'], detail: 'ok' };

function round(state: IpReputation, findings: DnsFindings, now: number): IpReputation {
  return decidePause(applyDnsFindings(state, findings, at(now)), settings, now);
}

describe('reputation settings', () => {
  it('fill the defaults: three zones, 15 minutes, an hour of cool-down, FCrDNS warns', () => {
    const d = resolveReputationSettings(undefined);
    assert.deepEqual(
      d.zones.map((z) => z.zone),
      ['zen.spamhaus.org', 'b.barracudacentral.org', 'bl.spamcop.net'],
    );
    assert.equal(d.checkIntervalMs, 15 * MIN);
    assert.equal(d.coolDownMs, 60 * MIN);
    assert.equal(d.fcrdns, 'warn');
    assert.deepEqual(d, { ...DEFAULT_REPUTATION });
  });

  it('refuse what cannot be enforced, naming the field', () => {
    assert.throws(() => resolveReputationSettings({ checkInterval: '10s' }), BadReputationError);
    assert.throws(() => resolveReputationSettings({ coolDown: 'soon' }), BadDurationError);
    assert.throws(
      () => resolveReputationSettings({ dnsbl: [{ zone: 'a.example' }, { zone: 'A.example.' }] }),
      /twice/,
    );
    assert.throws(() => resolveReputationSettings({ dnsbl: [{ zone: 'no spaces' }] }), /DNS name/);
    assert.throws(() => resolveReputationSettings({ blockReplies: { threshold: 0 } }), /threshold/);
  });
});

describe('FCrDNS', () => {
  const base = { address: '192.0.2.10', hostname: 'mta1.example' };
  it('passes when the PTR is the hostname and the hostname resolves back', () => {
    const v = fcrdnsVerdict({
      ...base,
      ptr: { kind: 'answer', values: ['MTA1.example.'] },
      forward: { kind: 'answer', values: ['192.0.2.10'] },
    });
    assert.equal(v.verdict, 'pass');
  });
  it('fails on a missing PTR, another name, or a hostname that points elsewhere', () => {
    assert.equal(fcrdnsVerdict({ ...base, ptr: { kind: 'none' } }).verdict, 'mismatch');
    const other = fcrdnsVerdict({
      ...base,
      ptr: { kind: 'answer', values: ['host-10.isp.example'] },
    });
    assert.equal(other.verdict, 'mismatch');
    assert.match(other.detail, /host-10\.isp\.example, not the EHLO name mta1\.example/);
    const away = fcrdnsVerdict({
      ...base,
      ptr: { kind: 'answer', values: ['mta1.example'] },
      forward: { kind: 'answer', values: ['192.0.2.11'] },
    });
    assert.equal(away.verdict, 'mismatch');
  });
  it('is unknown when DNS does not answer', () => {
    assert.equal(
      fcrdnsVerdict({ ...base, ptr: { kind: 'error', code: 'ETIMEOUT' } }).verdict,
      'unknown',
    );
    const fwd = fcrdnsVerdict({
      ...base,
      ptr: { kind: 'answer', values: ['mta1.example'] },
      forward: { kind: 'error', code: 'ESERVFAIL' },
    });
    assert.equal(fwd.verdict, 'unknown');
  });
});

describe('pausing and resuming', () => {
  const start = emptyReputation('192.0.2.10', 'mta1.example');

  it('checks at once for a new IP, a new generation or hostname, then on schedule', () => {
    assert.equal(dnsChecksDue(undefined, { hostname: 'a' }, 1, T0), true);
    const checked = applyDnsFindings(start, { zones: [] }, at(T0));
    assert.equal(dnsChecksDue(checked, { hostname: 'mta1.example' }, 1, T0 + MIN), false);
    assert.equal(dnsChecksDue(checked, { hostname: 'mta1.example' }, 2, T0 + MIN), true);
    assert.equal(dnsChecksDue(checked, { hostname: 'mta9.example' }, 1, T0 + MIN), true);
    assert.equal(dnsChecksDue(checked, { hostname: 'mta1.example' }, 1, T0 + 15 * MIN), true);
    const next = nextCheckAt(T0, settings, () => 0);
    assert.ok(next >= T0 + 0.85 * 15 * MIN && next <= T0 + 1.15 * 15 * MIN);
  });

  it('a listing on a pause zone pauses, with reason and since; a warn zone only shows', () => {
    const warned = round(
      start,
      { zones: [clean('zen.spamhaus.org'), listed('bl.spamcop.net', 'warn')], ptr: pass },
      T0,
    );
    assert.equal(warned.paused, undefined);
    assert.equal(reputationCondition(warned), 'Listed');
    const paused = round(
      warned,
      { zones: [listed('zen.spamhaus.org'), clean('bl.spamcop.net', 'warn')], ptr: pass },
      T0 + MIN,
    );
    assert.deepEqual(
      { reason: paused.paused?.reason, since: paused.paused?.since },
      { reason: 'listed', since: T0 + MIN },
    );
    assert.match(paused.paused?.detail ?? '', /zen\.spamhaus\.org: SBL/);
    assert.equal(reputationCondition(paused), 'Paused');
    const still = round(paused, { zones: [listed('zen.spamhaus.org')], ptr: pass }, T0 + 20 * MIN);
    assert.equal(still.paused?.since, T0 + MIN, 'since stays while the cause stands');
    assert.equal(still.listings[0]?.since, T0 + MIN);
  });

  it('an unknown answer neither lists nor delists', () => {
    const fresh = round(start, { zones: [unknown('zen.spamhaus.org')], ptr: pass }, T0);
    assert.equal(fresh.paused, undefined);
    assert.deepEqual(fresh.listings, []);
    assert.equal(fresh.unknown[0]?.zone, 'zen.spamhaus.org');
    const paused = round(start, { zones: [listed('zen.spamhaus.org')], ptr: pass }, T0);
    const after = round(paused, { zones: [unknown('zen.spamhaus.org')], ptr: pass }, T0 + 20 * MIN);
    assert.equal(after.paused?.reason, 'listed');
    assert.equal(after.clearedAt, undefined);
  });

  it('a delisted IP resumes only after the cool-down', () => {
    const paused = round(start, { zones: [listed('zen.spamhaus.org')], ptr: pass }, T0);
    const cleared = round(paused, { zones: [clean('zen.spamhaus.org')], ptr: pass }, T0 + 10 * MIN);
    assert.equal(cleared.paused?.reason, 'listed');
    assert.equal(cleared.clearedAt, T0 + 10 * MIN);
    const early = decidePause(cleared, settings, T0 + 39 * MIN);
    assert.ok(early.paused);
    const resumed = decidePause(cleared, settings, T0 + 40 * MIN);
    assert.equal(resumed.paused, undefined);
    assert.equal(resumed.clearedAt, undefined);
    assert.equal(reputationCondition(resumed), 'Ok');
    // Listed again during the cool-down: the clock starts over.
    const relisted = round(
      cleared,
      { zones: [listed('zen.spamhaus.org')], ptr: pass },
      T0 + 20 * MIN,
    );
    assert.equal(relisted.clearedAt, undefined);
    assert.equal(relisted.paused?.since, T0);
  });

  it('a PTR mismatch pauses when fcrdns is pause and only shows when it is warn', () => {
    const mismatch = {
      verdict: 'mismatch' as const,
      names: ['x.isp.example'],
      detail: 'PTR is x.isp.example',
    };
    const paused = round(start, { zones: [], ptr: mismatch }, T0);
    assert.equal(paused.paused?.reason, 'ptr-mismatch');
    const warnOnly = decidePause(paused, { ...settings, fcrdns: 'warn' }, T0);
    assert.equal(
      warnOnly.paused?.reason,
      'ptr-mismatch',
      'a pause is not dropped before its cool-down',
    );
    const shown = decidePause(
      applyDnsFindings(start, { zones: [], ptr: mismatch }, at(T0)),
      { ...settings, fcrdns: 'warn' },
      T0,
    );
    assert.equal(shown.paused, undefined);
    assert.equal(reputationCondition(shown), 'PtrMismatch');
  });

  it('block replies over the threshold pause, once enough recipients were tried', () => {
    const few = decidePause(
      { ...start, receivers: { attempted: 5, blocked: 5, hard: 0, throttled: 0 } },
      settings,
      T0,
    );
    assert.equal(few.paused, undefined);
    const many = decidePause(
      { ...start, receivers: { attempted: 20, blocked: 10, hard: 1, throttled: 0 } },
      settings,
      T0,
    );
    assert.equal(many.paused?.reason, 'block-replies');
    assert.match(many.paused?.detail ?? '', /10 of 20 recipients/);
  });

  it('a human resume lifts the pause until a cause clears and comes back', () => {
    const paused = round(start, { zones: [listed('zen.spamhaus.org')], ptr: pass }, T0);
    const resumed = resumeByHand(paused, settings, T0 + MIN);
    assert.equal(resumed.paused, undefined);
    assert.equal(resumed.resumedAt, T0 + MIN);
    const stillListed = round(
      resumed,
      { zones: [listed('zen.spamhaus.org')], ptr: pass },
      T0 + 20 * MIN,
    );
    assert.equal(stillListed.paused, undefined, 'the acknowledged listing does not pause again');
    const delisted = round(
      stillListed,
      { zones: [clean('zen.spamhaus.org')], ptr: pass },
      T0 + 40 * MIN,
    );
    assert.deepEqual(delisted.acknowledged, []);
    const again = round(
      delisted,
      { zones: [listed('zen.spamhaus.org')], ptr: pass },
      T0 + 60 * MIN,
    );
    assert.equal(again.paused?.reason, 'listed');
  });

  it('a pool with the guard disabled pauses nothing and lets paused IPs go', () => {
    const off = { ...settings, enabled: false };
    const paused = round(start, { zones: [listed('zen.spamhaus.org')], ptr: pass }, T0);
    assert.equal(decidePause(paused, off, T0 + MIN).paused, undefined);
  });
});
