/**
 * A limit nobody told the relay: the pool believes a receiver takes 200 a minute per IP;
 * it takes R = 40 and answers Yahoo's "421 4.7.0 [TS04] ... deferred due to unexpected
 * volume" to an IP that already sent it R in the last minute. From the second minute on
 * each IP must hold at least 90 % of R on average (and no minute under 80 %), with under
 * 2 % of its attempts refused, and never more than R in any 60 s. Then the receiver relents, and the declared rate must be back
 * within 3 minutes. What the relay learned is read where status, metrics and the CLI read
 * it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readIpStatus, readThrottleStates, throttledSite } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { IP1, IP2, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const R = 40;
const DECLARED = 200;
const MINUTE = 60_000;
const STRICT_MINUTES = 6;
const IPS = [IP1.address, IP2.address];
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 2 });
let strict = true;
let first = 0;
const accepted = new Map<string, number[]>(IPS.map((ip) => [ip, []]));
const refused = new Map<string, number[]>(IPS.map((ip) => [ip, []]));
/** Learned rate per IP, sampled once a clock second: [clock ms, messages a minute]. */
const learned = new Map<string, [number, number][]>(IPS.map((ip) => [ip, []]));
let sink: SmtpSink;
let relay: ShapingFixture;

const minuteOf = (at: number) => Math.floor((at - first) / MINUTE);
const inMinute = (list: number[], m: number) => list.filter((at) => minuteOf(at) === m).length;
const peerOf = (address: string) => address.replace(/^::ffff:/, '');

before(async () => {
  sink = await startSmtpSink({
    host: '127.0.0.22',
    port: 0,
    keep: false,
    behaviour: {
      onRcpt(_rcpt, session) {
        const ip = peerOf(session.remoteAddress);
        const now = clock.now();
        const recent = (accepted.get(ip) ?? []).filter((at) => at > now - MINUTE).length;
        if (strict && recent >= R) {
          refused.get(ip)?.push(now);
          return {
            code: 421,
            message: `4.7.0 [TS04] Messages from ${ip} temporarily deferred due to unexpected volume or user complaints - 4.16.56.1; see https://postmaster.yahooinc.com/error-codes`,
          };
        }
        // The receiver counts a message when it takes its recipient (one per message here).
        if (first === 0) first = now;
        accepted.get(ip)?.push(now);
        return undefined;
      },
    },
  });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '2000' },
    spec: {
      ips: [IP1, IP2],
      routes: [{ domains: ['yahoo.test'], host: `127.0.0.22:${sink.port}` }],
      retry: { schedule: ['30s'], maxAge: '1h' },
      ratePolicies: [
        {
          name: 'yahoo',
          match: { domains: ['yahoo.test'] },
          perIp: { messagesPerMinute: DECLARED },
          onThrottle: { pause: '30s', factor: 0.5, recoverAfter: '100s' },
        },
      ],
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

async function sampleLearned(): Promise<void> {
  const now = clock.now();
  const states = await readThrottleStates(relay.redis, relay.pool.key, now);
  for (const ip of IPS) {
    const state = states.get(ip)?.get('yahoo');
    learned
      .get(ip)
      ?.push([now, state ? throttledSite('yahoo', state, now).messagesPerMinute : DECLARED]);
  }
}

/** The most any 60 s window of the list holds. */
function busiestMinute(list: number[]): number {
  let most = 0;
  for (let i = 0, j = 0; j < list.length; j++) {
    while ((list[j] as number) - (list[i] as number) >= MINUTE) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

test('an unknown limit is found and held near it, and the declared rate comes back when the receiver relents', async (t) => {
  await Promise.all(
    Array.from({ length: 1600 }, (_, i) => relay.submit({ to: [`user${i}@yahoo.test`] })),
  );
  const sampler = setInterval(
    () => void sampleLearned().catch(() => undefined),
    1000 / clock.speed,
  );
  try {
    await waitFor(
      'the strict minutes',
      () => first > 0 && minuteOf(clock.now()) >= STRICT_MINUTES,
      {
        timeoutMs: 10 * MINUTE,
      },
    );
    // What was learned is visible where operators look: metrics and the status rows.
    const during = (await relay.schedulers[0]?.registry.metrics()) ?? '';
    for (const ip of IPS) {
      const gauge = new RegExp(
        `hikyaku_scheduler_learned_rate\\{[^}]*ip="${ip.replace(/\./g, '\\.')}"[^}]*policy="yahoo"[^}]*reason="rate"[^}]*\\} ([0-9.]+)`,
      ).exec(during);
      assert.ok(gauge, `no learned rate for ${ip} in /metrics`);
      assert.ok(Number(gauge[1]) < DECLARED && Number(gauge[1]) >= 0.8 * R, `learned ${gauge[1]}`);
    }
    const rows = await readIpStatus(relay.redis, relay.pool, clock.now());
    for (const row of rows) {
      assert.equal(row.state, 'Throttled');
      assert.equal(row.throttled[0]?.site, 'yahoo');
      const ceiling = row.throttled[0]?.ceiling ?? 0;
      assert.ok(ceiling >= 0.9 * R, `refused at ${ceiling} a minute`);
    }
    strict = false;
    const relentedAt = clock.now();
    const recovered = await waitFor(
      'the declared rate on every IP',
      async () => {
        const states = await readThrottleStates(relay.redis, relay.pool.key, clock.now());
        return IPS.every((ip) => !states.get(ip)?.has('yahoo')) ? clock.now() : 0;
      },
      { timeoutMs: 5 * MINUTE },
    );
    const full = await waitFor(
      'a minute near the declared rate on every IP',
      () => {
        for (let m = STRICT_MINUTES; m < minuteOf(clock.now()); m++) {
          const counts = IPS.map((ip) => inMinute(accepted.get(ip) ?? [], m));
          if (counts.every((n) => n >= 0.8 * DECLARED)) return m + 1;
        }
        return 0;
      },
      { timeoutMs: 5 * MINUTE },
    );

    const minutes = Array.from({ length: full }, (_, m) => m);
    for (const ip of IPS) {
      const ok = accepted.get(ip) ?? [];
      const no = refused.get(ip) ?? [];
      const rates = minutes.map((m) => {
        const inM = (learned.get(ip) ?? []).filter(([at]) => minuteOf(at) === m).map(([, r]) => r);
        return inM.length ? Math.round(Math.min(...inM)) : '-';
      });
      t.diagnostic(
        `${ip}: accepted per minute ${minutes.map((m) => inMinute(ok, m)).join(' ')}; ` +
          `421 per minute ${minutes.map((m) => inMinute(no, m)).join(' ')}; ` +
          `lowest learned rate per minute ${rates.join(' ')}`,
      );
    }
    t.diagnostic(
      `receiver strict for minutes 0-${STRICT_MINUTES - 1} (R=${R}, declared ${DECLARED}); ` +
        `declared rate learned back ${((recovered - relentedAt) / 1000).toFixed(0)} s after it relented`,
    );

    for (const ip of IPS) {
      const ok = (accepted.get(ip) ?? []).filter((at) => minuteOf(at) < STRICT_MINUTES);
      const no = refused.get(ip) ?? [];
      const steady = Array.from({ length: STRICT_MINUTES - 1 }, (_, i) => i + 1);
      const sent = steady.reduce((n, m) => n + inMinute(ok, m), 0);
      const refusedSteady = steady.reduce((n, m) => n + inMinute(no, m), 0);
      const average = sent / steady.length;
      const share = refusedSteady / (sent + refusedSteady);
      t.diagnostic(
        `${ip} minutes 1-${STRICT_MINUTES - 1}: ${average.toFixed(1)} a minute ` +
          `(${((100 * average) / R).toFixed(0)}% of R), ${(100 * share).toFixed(2)}% refused`,
      );
      assert.ok(average >= 0.9 * R, `${ip}: only ${average} a minute after the first minute`);
      for (const m of steady) {
        assert.ok(inMinute(ok, m) >= 0.8 * R, `${ip}: only ${inMinute(ok, m)} in minute ${m}`);
      }
      assert.ok(share < 0.02, `${ip}: ${(100 * share).toFixed(2)}% of attempts refused`);
      // The receiver's own count: it refuses past R, so it never took more.
      assert.ok(busiestMinute(ok) <= R, `${ip}: ${busiestMinute(ok)} in one 60 s window`);
      assert.ok(inMinute(no, 0) > 0, `${ip}: the receiver did refuse in the first minute`);
    }
    assert.ok(
      recovered - relentedAt <= 3 * MINUTE,
      `the declared rate came back ${(recovered - relentedAt) / 1000} s after the receiver relented`,
    );
    const metrics = (await relay.schedulers[0]?.registry.metrics()) ?? '';
    assert.match(
      metrics,
      /hikyaku_scheduler_throttle_signals_total\{[^}]*policy="yahoo"[^}]*reason="rate"[^}]*\} [1-9]/,
    );
  } finally {
    clearInterval(sampler);
  }
});
