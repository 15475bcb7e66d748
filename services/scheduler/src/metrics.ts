/**
 * The scheduler's metrics. Counters are counted where things happen; gauges (queue depth
 * and oldest age per pool and policy, warm-up day, cap and sent-today per IP, throttle
 * state per IP and policy) are read from Redis when scraped, so every replica reports the
 * shared state and nothing is kept in this process. Labels are bounded: pool, IP, rate
 * policy, reason, state; the catch-all policy's per-domain throttle states are counted.
 */

import {
  METRICS,
  type PoolDirectory,
  REDIS_KEYS,
  readIpStatus,
  readThrottleStates,
} from '@hikyaku/core';
import { throttleStatus } from '@hikyaku/core/policy';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type Destinations, policyOfSite } from './destinations.ts';

export function createSchedulerMetrics(deps: {
  registry: Registry;
  redis: Redis;
  pools: PoolDirectory;
  destinations: Destinations;
  now: () => number;
}) {
  const { registry, redis, pools, destinations, now } = deps;
  const registers = [registry];

  const queueDepth = new Gauge({
    name: METRICS.schedulerQueueDepth,
    help: 'Delivery items waiting to be dispatched (fresh, parked or waiting to retry)',
    labelNames: ['pool', 'policy'],
    registers,
    async collect() {
      queueDepth.reset();
      oldestAge.reset();
      const t = now();
      for (const pool of pools.all()) {
        // An entry older than any message can live was left behind (a crash mid-way).
        const forgotten = t - pool.retry.maxAgeMs - 86_400_000;
        for (const policy of destinations.policies(pool)) {
          const key = REDIS_KEYS.queued(pool.key, policy.name);
          await redis.zremrangebyscore(key, '-inf', forgotten);
          const [depth, oldest] = await Promise.all([
            redis.zcard(key),
            redis.zrange(key, '0', '0', 'WITHSCORES'),
          ]);
          const labels = { pool: pool.key, policy: policy.name };
          queueDepth.set(labels, depth);
          const first = oldest[1];
          oldestAge.set(labels, first === undefined ? 0 : Math.max(0, t - Number(first)) / 1000);
        }
      }
    },
  });
  const oldestAge = new Gauge({
    name: METRICS.schedulerOldestAge,
    help: 'Age of the oldest waiting delivery item (0: none)',
    labelNames: ['pool', 'policy'],
    registers,
  });

  const warmupDay = new Gauge({
    name: METRICS.schedulerWarmupDay,
    help: 'Warm-up day of each warming IP (0 before its start date)',
    labelNames: ['pool', 'ip'],
    registers,
    async collect() {
      warmupDay.reset();
      warmupLimit.reset();
      sentToday.reset();
      const t = now();
      for (const pool of pools.all()) {
        for (const row of await readIpStatus(redis, pool, t)) {
          const labels = { pool: pool.key, ip: row.address };
          sentToday.set(labels, row.sentToday);
          if (row.warmupDay !== null) warmupDay.set(labels, row.warmupDay);
          if (row.dailyLimit !== null) warmupLimit.set(labels, row.dailyLimit);
        }
      }
    },
  });
  const warmupLimit = new Gauge({
    name: METRICS.schedulerWarmupLimit,
    help: "Today's warm-up cap of each warming IP",
    labelNames: ['pool', 'ip'],
    registers,
  });
  const sentToday = new Gauge({
    name: METRICS.schedulerSentToday,
    help: 'Messages dispatched from each IP today (pool time zone)',
    labelNames: ['pool', 'ip'],
    registers,
  });

  const throttleState = new Gauge({
    name: METRICS.schedulerThrottleState,
    help: 'Destinations that pause (Paused) or slow (Throttled) an IP, per rate policy',
    labelNames: ['pool', 'ip', 'policy', 'state'],
    registers,
    async collect() {
      throttleState.reset();
      const t = now();
      for (const pool of pools.all()) {
        for (const [ip, sites] of await readThrottleStates(redis, pool.key, t)) {
          for (const [site, state] of sites) {
            throttleState.inc({
              pool: pool.key,
              ip,
              policy: policyOfSite(site),
              state: throttleStatus(state, t),
            });
          }
        }
      }
    },
  });

  return {
    scheduled: new Counter({
      name: METRICS.schedulerScheduled,
      help: 'Delivery jobs handed to senders',
      labelNames: ['pool', 'ip', 'policy'],
      registers,
    }),
    deferred: new Counter({
      name: METRICS.schedulerDeferred,
      help: 'Delivery items held back, by reason',
      labelNames: ['pool', 'reason'],
      registers,
    }),
    outcomes: new Counter({
      name: METRICS.schedulerOutcomes,
      help: 'Recipient outcomes recorded, by type',
      labelNames: ['pool', 'type'],
      registers,
    }),
    throttleSignals: new Counter({
      name: METRICS.schedulerThrottleSignals,
      help: '"Slow down" signals recorded (throttled replies, resets, timeouts)',
      labelNames: ['pool', 'ip', 'policy'],
      registers,
    }),
    suppressionsAdded: new Counter({
      name: METRICS.schedulerSuppressionsAdded,
      help: 'Addresses added to the suppression list after a hard bounce',
      labelNames: ['pool'],
      registers,
    }),
    dsns: new Counter({
      name: METRICS.schedulerDsns,
      help: 'Delivery status notifications: sent, or why not',
      labelNames: ['pool', 'result'],
      registers,
    }),
  };
}

export type SchedulerMetrics = ReturnType<typeof createSchedulerMetrics>;
