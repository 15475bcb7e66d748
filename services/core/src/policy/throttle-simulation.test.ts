/**
 * The acceptance of adaptive shaping, measured on the deterministic bench: against a
 * receiver whose limit the pool does not know (it believes 2, 5 or 10 times more), from
 * the second minute on each IP holds at least 90 % of the limit with under 2 % of its
 * attempts refused; the receiver never takes more than its limit in any 60 s (it refuses
 * the rest, and the relay must not count on it doing so); and once it relents the
 * declared rate is back within 3 minutes. Delays up to a second each way stay within the
 * rate window's slack, as on a healthy network; two seconds go past it, so the receiver
 * sees arrivals bunched beyond what the relay sent. Each IP of a pool is a pair of its
 * own with its own delays (the receiver counts per IP, the state is per pair).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MINUTE } from './duration.ts';
import { resolveThrottleSettings } from './throttle.ts';
import { type ShapingRun, simulateShaping, summarize } from './throttle-simulation.ts';

const SETTINGS = resolveThrottleSettings({ pause: '30s', factor: 0.5, recoverAfter: '100s' });

interface Case {
  limit: number;
  believed: number;
  ips: number;
  maxDelayMs: number;
}

const CASES: Case[] = [];
for (const limit of [20, 40, 60, 120, 300]) {
  for (const believed of [2, 5, 10]) {
    for (const maxDelayMs of [300, 1000, 2000]) {
      CASES.push({ limit, believed, ips: limit === 40 ? 4 : 2, maxDelayMs });
    }
  }
}

function measure(c: Case, strictMinutes: number) {
  return Array.from({ length: c.ips }, (_, ip) => {
    const run: ShapingRun = {
      limit: c.limit,
      declared: c.limit * c.believed,
      settings: SETTINGS,
      strictMs: strictMinutes * MINUTE,
      durationMs: (strictMinutes + 5) * MINUTE,
      seed: 1000 * c.limit + 10 * c.believed + ip + c.maxDelayMs,
      maxDelayMs: c.maxDelayMs,
    };
    const result = simulateShaping(run);
    return { result, summary: summarize(run, result) };
  });
}

function busiestMinute(list: readonly number[]): number {
  let most = 0;
  for (let i = 0, j = 0; j < list.length; j++) {
    while ((list[j] as number) - (list[i] as number) >= MINUTE) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

for (const [name, strictMinutes, cases] of [
  ['six strict minutes, as the scheduler test', 6.2, CASES],
  ['twenty strict minutes', 20, CASES],
] as const) {
  test(`unknown limits, ${name}: ≥ 90 % held, < 2 % refused, declared rate back within 3 minutes`, (t) => {
    for (const c of cases) {
      const label = `limit ${c.limit}, believed ×${c.believed}, delays ≤ ${c.maxDelayMs} ms`;
      for (const [ip, { result, summary }] of measure(c, strictMinutes).entries()) {
        const where = `${label}, IP ${ip + 1}`;
        if (ip === 0) {
          t.diagnostic(
            `${where}: held ${(100 * summary.held).toFixed(1)} %, refused ` +
              `${(100 * summary.refusedShare).toFixed(2)} %, back ${result.recoveryMs / 1000} s ` +
              `after relenting; refused per minute ${summary.perMinute.refused.join(' ')}`,
          );
        }
        assert.ok(summary.held >= 0.9, `${where}: held ${summary.held}`);
        assert.ok(summary.refusedShare < 0.02, `${where}: ${summary.refusedShare} refused`);
        assert.ok(summary.worstMinute >= 0.8, `${where}: a minute at ${summary.worstMinute}`);
        const strict = result.accepted.filter((at) => at < strictMinutes * MINUTE);
        assert.ok(busiestMinute(strict) <= c.limit, `${where}: over the limit`);
        assert.ok((summary.perMinute.refused[0] ?? 0) > 0, `${where}: the limit was never hit`);
        assert.ok(
          result.recoveryMs >= 0 && result.recoveryMs <= 3 * MINUTE,
          `${where}: declared rate back ${result.recoveryMs} ms after the receiver relented`,
        );
      }
    }
  });
}
