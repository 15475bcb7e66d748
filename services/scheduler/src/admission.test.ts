import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { compilePool, type QueueItem } from '@hikyaku/core';
import { Redis } from 'ioredis';
import { createShapingAdmission } from './admission.ts';
import { createDestinations } from './destinations.ts';
import { createMxLookup } from './mx-hosts.ts';
import { createParking } from './parking.ts';
import { createThrottleStore } from './throttles.ts';
import { createWarmupCaps } from './warmup-caps.ts';

// Never connected: a pool without an IP that may send is decided before any lookup.
const redis = new Redis({ lazyConnect: true });
after(() => redis.disconnect());

describe('admission without an IP that may send', () => {
  // Compiled with no pod assignment: none of the pool's IPs has a sender yet.
  const pool = compilePool(
    {
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'idle', namespace: 'test' },
      spec: { ips: [{ address: '192.0.2.1', hostname: 'mta.example.com' }] },
    },
    { assignment: {} },
  );
  const item: QueueItem = {
    delivery: {
      id: 'm1',
      pool: pool.key,
      domain: 'example.org',
      from: 'app@example.com',
      rcpts: ['a@example.org'],
      body: { store: 'stream', size: 10, seq: 1 },
      receivedAt: 0,
    },
    attempt: 0,
    notBefore: 0,
  };
  const admissionWith = (rng: () => number) =>
    createShapingAdmission({
      redis,
      destinations: createDestinations(createMxLookup({ servers: ['127.0.0.1'], now: () => 0 })),
      throttles: createThrottleStore(redis),
      caps: createWarmupCaps(redis, () => 0),
      parking: createParking(redis),
      windowMs: 61_000,
      rng,
    });

  it('waits between 15 and 30 seconds, spread at random so a backlog does not wake at once', async () => {
    const now = 1_000_000;
    const waits = await Promise.all(
      [0, 0.5, 0.999].map(async (r) => {
        const decision = await admissionWith(() => r).decide(item, pool, now);
        assert.equal(decision.kind, 'wait');
        assert.equal(decision.kind === 'wait' && decision.reason, 'no-active-ip');
        return decision.kind === 'wait' ? decision.until - now : -1;
      }),
    );
    assert.deepEqual(waits, [15_000, 22_500, 29_985]);
  });
});

describe('admission when the node of every IP is unavailable', () => {
  // Egress mode hostNetwork: the IP keeps its pod, but its node is cordoned.
  const pool = compilePool(
    {
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'pinned', namespace: 'test' },
      spec: {
        egress: { mode: 'hostNetwork' },
        ips: [{ address: '192.0.2.1', hostname: 'mta.example.com', node: 'egress-a' }],
      },
    },
    { assignment: { '192.0.2.1': 'pinned-s0-0' }, nodeUnavailable: ['192.0.2.1'] },
  );

  it('gives the IP no job: the item waits as when no IP has a sender', async () => {
    const admission = createShapingAdmission({
      redis,
      destinations: createDestinations(createMxLookup({ servers: ['127.0.0.1'], now: () => 0 })),
      throttles: createThrottleStore(redis),
      caps: createWarmupCaps(redis, () => 0),
      parking: createParking(redis),
      windowMs: 61_000,
      rng: () => 0,
    });
    const item: QueueItem = {
      delivery: {
        id: 'm2',
        pool: pool.key,
        domain: 'example.org',
        from: 'app@example.com',
        rcpts: ['a@example.org'],
        body: { store: 'stream', size: 10, seq: 1 },
        receivedAt: 0,
      },
      attempt: 0,
      notBefore: 0,
    };
    const decision = await admission.decide(item, pool, 1_000_000);
    assert.deepEqual(decision, { kind: 'wait', until: 1_015_000, reason: 'no-active-ip' });
  });
});
