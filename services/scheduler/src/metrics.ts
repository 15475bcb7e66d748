/**
 * The scheduler's metrics. Counters are counted where things happen; gauges (queue depth
 * and oldest age per pool and policy, warm-up day, cap and sent-today per IP, throttle
 * state per IP and policy) are read from Redis when scraped, so every replica reports the
 * shared state and nothing is kept in this process. Labels are bounded: pool, IP, rate
 * policy, reason, state; the catch-all policy's per-domain throttle states are counted.
 */

import {
  type IpStatus,
  METRICS,
  type PoolDirectory,
  REDIS_KEYS,
  readIpStatus,
  readThrottleStates,
  type ThrottledSite,
  throttledSite,
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

  // Each gauge reads Redis in its own collect: the registry collects gauges concurrently,
  // so one collect filling another gauge would fill it after that gauge was already read.
  const warmupGauge = (name: string, help: string, value: (row: IpStatus) => number | null) => {
    const gauge: Gauge<'pool' | 'ip'> = new Gauge({
      name,
      help,
      labelNames: ['pool', 'ip'],
      registers,
      async collect() {
        const t = now();
        const rows = await Promise.all(
          pools.all().map(async (pool) => ({ pool, rows: await readIpStatus(redis, pool, t) })),
        );
        gauge.reset();
        for (const { pool, rows: ips } of rows) {
          for (const row of ips) {
            const v = value(row);
            if (v !== null) gauge.set({ pool: pool.key, ip: row.address }, v);
          }
        }
      },
    });
    return gauge;
  };
  warmupGauge(
    METRICS.schedulerWarmupDay,
    'Warm-up day of each warming IP (0 before its start date)',
    (row) => row.warmupDay,
  );
  warmupGauge(
    METRICS.schedulerWarmupLimit,
    "Today's warm-up cap of each warming IP",
    (row) => row.dailyLimit,
  );
  warmupGauge(
    METRICS.schedulerSentToday,
    'Messages dispatched from each IP today (pool time zone)',
    (row) => row.sentToday,
  );

  // The slowest site of each (IP, policy): the catch-all's sites are one per domain, and a
  // domain is never a label.
  const learned = (
    name: string,
    help: string,
    value: (site: ThrottledSite) => number | undefined,
  ) => {
    const gauge: Gauge<'pool' | 'ip' | 'policy' | 'reason'> = new Gauge({
      name,
      help,
      labelNames: ['pool', 'ip', 'policy', 'reason'],
      registers,
      async collect() {
        const t = now();
        const read = await Promise.all(
          pools.all().map(async (pool) => ({
            pool,
            states: await readThrottleStates(redis, pool.key, t),
          })),
        );
        gauge.reset();
        for (const { pool, states } of read) {
          for (const [ip, sites] of states) {
            const lowest = new Map<string, { v: number; reason: string }>();
            for (const [site, state] of sites) {
              const v = value(throttledSite(site, state, t));
              if (v === undefined) continue;
              const policy = policyOfSite(site);
              const seen = lowest.get(policy);
              if (!seen || v < seen.v) lowest.set(policy, { v, reason: state.reason });
            }
            for (const [policy, { v, reason }] of lowest) {
              gauge.set({ pool: pool.key, ip, policy, reason }, v);
            }
          }
        }
      },
    });
    return gauge;
  };
  learned(
    METRICS.schedulerLearnedRate,
    'Messages a minute an IP sends to the slowest throttled site of a rate policy (learned)',
    (site) => site.messagesPerMinute,
  );
  learned(
    METRICS.schedulerLearnedConnections,
    'Concurrent connections learned for the slowest site of a rate policy, when fewer than declared',
    (site) => site.connections,
  );

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
      help: '"Slow down" signals recorded (throttled replies, resets, timeouts), by what they slow',
      labelNames: ['pool', 'ip', 'policy', 'reason'],
      registers,
    }),
    spilled: new Counter({
      name: METRICS.schedulerWarmupSpilled,
      help: "Messages sent from another IP because their home IP's warm-up cap was used up (overflow: spill)",
      labelNames: ['pool', 'ip'],
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
    bodyPurges: new Counter({
      name: METRICS.schedulerBodyPurges,
      help:
        'Walks of the bodies stream by the scheduler holding the purge lease: purged, ' +
        'nothing (the first body was still needed: a live message, or an envelope not yet ' +
        'read) or failed',
      labelNames: ['result'],
      registers,
    }),
    bodiesPurged: new Counter({
      name: METRICS.schedulerBodiesPurged,
      help: 'Bodies removed from HIKYAKU_BODIES by purges',
      registers,
    }),
    bodiesKept: new Counter({
      name: METRICS.schedulerBodiesKept,
      help: 'Bodies still needed that were copied to HIKYAKU_BODIES_KEPT before a purge',
      registers,
    }),
    resultsRecorded: new Counter({
      name: METRICS.schedulerResults,
      help:
        'Delivery results recorded, by how they came (handoff: from the sender directly; ' +
        'stream: from HIKYAKU_RESULTS) and whether they had been recorded before (repeat)',
      labelNames: ['pool', 'path', 'repeat'],
      registers,
    }),
    feedback: new Counter({
      name: METRICS.schedulerFeedback,
      help: 'Feedback messages read, by what they were (bounce, complaint, notice, forged, unattributed, other)',
      labelNames: ['pool', 'verdict'],
      registers,
    }),
    complaints: new Counter({
      name: METRICS.schedulerComplaints,
      help: "Complaints attributed to a message, by the pool IP that sent it ('other': not one of the pool's)",
      labelNames: ['pool', 'ip'],
      registers,
    }),
    complaintRate: new Gauge({
      name: METRICS.schedulerComplaintRate,
      help: 'Complaints per delivered message of a sender domain over the guard window, as of its last complaint',
      labelNames: ['pool', 'sender_domain'],
      registers,
    }),
    complaintLevel: new Gauge({
      name: METRICS.schedulerComplaintLevel,
      help: 'Complaint guard level of a sender domain as of its last complaint: 0 ok, 1 warn, 2 stop',
      labelNames: ['pool', 'sender_domain'],
      registers,
    }),
    submitterComplaintRate: new Gauge({
      name: METRICS.schedulerSubmitterComplaintRate,
      help: 'Complaints per delivered message of a submitter over the guard window, as of its last complaint',
      labelNames: ['pool', 'submitter'],
      registers,
    }),
    submitterComplaintLevel: new Gauge({
      name: METRICS.schedulerSubmitterComplaintLevel,
      help: 'Complaint guard level of a submitter as of its last complaint: 0 ok, 1 warn, 2 stop',
      labelNames: ['pool', 'submitter'],
      registers,
    }),
  };
}

export type SchedulerMetrics = ReturnType<typeof createSchedulerMetrics>;
