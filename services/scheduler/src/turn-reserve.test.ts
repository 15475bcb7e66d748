/**
 * Admission's turn check and the home IP's reservation in one Redis call, on a real
 * redis-server: an item due at once is reserved in that call and counted once; an item
 * over its rate still waits; a throttle state that changed since it was last read is
 * never reserved from, so the decision is the one two calls would have made.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compilePool, type QueueItem, REDIS_KEYS, throttleField } from '@hikyaku/core';
import { isThrottleState } from '@hikyaku/core/policy';
import { startTestRedis, type TestRedis } from '@hikyaku/testing';
import { createShapingAdmission } from './admission.ts';
import { createDestinations } from './destinations.ts';
import { createMxLookup } from './mx-hosts.ts';
import { createParking } from './parking.ts';
import { createThrottleStore } from './throttles.ts';
import { createWarmupCaps } from './warmup-caps.ts';

const IP = '192.0.2.1';
const WINDOW_MS = 61_000;
const pool = compilePool(
  {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'one', namespace: 'test' },
    spec: {
      ips: [{ address: IP, hostname: 'mta.example.com' }],
      ratePolicies: [
        { name: 'slow', match: { domains: ['slow.test'] }, perIp: { messagesPerMinute: 1 } },
      ],
    },
  },
  { assignment: { [IP]: 'one-s0-0' } },
);

function item(id: string, domain: string): QueueItem {
  return {
    delivery: {
      id,
      pool: pool.key,
      domain,
      from: 'app@example.com',
      rcpts: [`a@${domain}`],
      body: { store: 'stream', size: 10, seq: 1 },
      receivedAt: 0,
    },
    attempt: 0,
    notBefore: 0,
  };
}

let infra: TestRedis;

before(async () => {
  infra = await startTestRedis('turn-reserve');
});

after(async () => {
  await infra?.close();
});

function admissionOn() {
  const { redis } = infra;
  const destinations = createDestinations(createMxLookup({ servers: ['127.0.0.1'], now: () => 0 }));
  const admission = createShapingAdmission({
    redis,
    destinations,
    throttles: createThrottleStore(redis),
    caps: createWarmupCaps(redis, () => 0),
    parking: createParking(redis),
    windowMs: WINDOW_MS,
    rng: () => 0,
  });
  return { admission, destinations };
}

/**
 * Script calls redis-server has run so far: an EVALSHA answered NOSCRIPT (a script's first
 * run) and the EVAL after it are one call.
 */
async function scriptCalls(): Promise<number> {
  const stats = await infra.redis.info('commandstats');
  let calls = 0;
  for (const m of stats.matchAll(/cmdstat_(evalsha|eval):calls=(\d+).*failed_calls=(\d+)/g)) {
    calls += Number(m[2]) - (m[1] === 'evalsha' ? Number(m[3]) : 0);
  }
  return calls;
}

describe('the turn check with the reservation', () => {
  it('sends an item due at once with one call and counts its dispatch once', async () => {
    const { admission, destinations } = admissionOn();
    const { site } = await destinations.resolve(pool, 'fast.test');
    const now = 1_000_000;
    // The first look reads the pair's state; every later one has it to expect.
    assert.equal((await admission.decide(item('warm', 'fast.test'), pool, now)).kind, 'send');
    const before = await scriptCalls();
    const decision = await admission.decide(item('m1', 'fast.test'), pool, now + 5000);
    assert.deepEqual(decision, { kind: 'send', ip: IP, policy: 'default', site });
    assert.equal((await scriptCalls()) - before, 1);
    const log = await infra.redis.zrange(REDIS_KEYS.rateLog(pool.key, IP, site), 0, -1);
    assert.deepEqual(log, ['warm|fast.test|0|0@1000000', 'm1|fast.test|0|0@1005000']);
  });

  it('makes an item over its rate wait, counting nothing for it', async () => {
    const { admission, destinations } = admissionOn();
    const { site } = await destinations.resolve(pool, 'slow.test');
    const now = 2_000_000;
    assert.equal((await admission.decide(item('s1', 'slow.test'), pool, now)).kind, 'send');
    const decision = await admission.decide(item('s2', 'slow.test'), pool, now + 10);
    assert.equal(decision.kind, 'wait');
    assert.equal(decision.kind === 'wait' && decision.reason, 'rate');
    assert.ok(decision.kind === 'wait' && decision.until > now + 10);
    const log = await infra.redis.zrange(REDIS_KEYS.rateLog(pool.key, IP, site), 0, -1);
    assert.deepEqual(log, ['s1|slow.test|0|0@2000000']);
  });

  it('reserves nothing from a throttle state that changed since it was read', async () => {
    const { admission, destinations } = admissionOn();
    const { site } = await destinations.resolve(pool, 'paused.test');
    const now = 3_000_000;
    assert.equal((await admission.decide(item('p1', 'paused.test'), pool, now)).kind, 'send');
    // A "slow down" recorded by another replica after this one last read the pair.
    const state = {
      rate: 1,
      since: now,
      ceiling: 2,
      clean: 0,
      declared: 60,
      pausedUntil: now + 60_000,
      recoverAfter: 60_000,
      reason: 'rate',
    };
    assert.ok(isThrottleState(state));
    await infra.redis.hset(
      REDIS_KEYS.throttle(pool.key),
      throttleField(IP, site),
      JSON.stringify(state),
    );
    const decision = await admission.decide(item('p2', 'paused.test'), pool, now + 10);
    assert.equal(decision.kind, 'wait');
    assert.equal(decision.kind === 'wait' && decision.reason, 'throttled');
    assert.ok(decision.kind === 'wait' && decision.until >= now + 60_000);
    const log = await infra.redis.zrange(REDIS_KEYS.rateLog(pool.key, IP, site), 0, -1);
    assert.deepEqual(log, ['p1|paused.test|0|0@3000000']);

    // Once the pause is lifted, p2's turn comes; the state last read (paused) is no longer
    // there, so the turn check reserves nothing and a second call reserves at the
    // declared rate, as before.
    await infra.redis.hdel(REDIS_KEYS.throttle(pool.key), throttleField(IP, site));
    const later = now + 120_000;
    const calls = await scriptCalls();
    const sent = await admission.decide(item('p2', 'paused.test'), pool, later);
    assert.equal(sent.kind, 'send');
    assert.equal((await scriptCalls()) - calls, 2);
    assert.deepEqual(await infra.redis.zrange(REDIS_KEYS.rateLog(pool.key, IP, site), 0, -1), [
      `p2|paused.test|0|0@${later}`,
    ]);
    // Its turn and queued entry are gone with the dispatch, as before.
    assert.equal(await infra.redis.zcard(REDIS_KEYS.lane(pool.key, `site:${site}`)), 0);
  });
});
