/**
 * Receivers' verdicts on each sending IP, counted per recipient in five-minute buckets in
 * Redis so that every scheduler replica adds to, and reads, the same rolling window:
 * recipients tried, refused for reputation or policy (block lists, IP reputation, content
 * filters, the sender's authentication or reverse DNS), hard-bounced, and throttled.
 */

import { type CompiledPool, REDIS_KEYS } from '@hikyaku/core';
import type { ReceiverCounts } from '@hikyaku/core/policy';
import type { Redis } from 'ioredis';
import type { Judgement } from '../outcomes.ts';
import type { RedisBatch } from '../redis-batch.ts';

export const VERDICT_BUCKET_MS = 5 * 60_000;
/** Longer than the longest window a pool may declare (24 h). */
const BUCKET_TTL_S = 25 * 3600;
const KINDS = ['attempted', 'blocked', 'hard', 'throttled'] as const;

/** What one job's result adds to its IP's counts. Pure. */
export function countVerdicts(judgement: Judgement): ReceiverCounts {
  const failed = [...judgement.bounced, ...judgement.deferred];
  const category = (c: string) => failed.filter((f) => f.classification.category === c).length;
  return {
    attempted: judgement.delivered.length + failed.length,
    blocked: category('block') + category('policy') + category('auth'),
    hard: category('hard'),
    throttled: failed.filter((f) => f.classification.action === 'retry-throttled').length,
  };
}

function field(ip: string, kind: (typeof KINDS)[number]): string {
  return `${ip}|${kind}`;
}

export interface VerdictCounter {
  /** Adds what one result says about its IP to the step's batch of Redis writes. */
  record(
    batch: RedisBatch,
    pool: CompiledPool,
    ip: string,
    judgement: Judgement,
    now: number,
  ): void;
  /** Counts of every IP of the pool in buckets that start at or after `since`, up to now. */
  read(pool: CompiledPool, since: number, now: number): Promise<Map<string, ReceiverCounts>>;
}

export function createVerdictCounter(redis: Redis): VerdictCounter {
  return {
    record(batch, pool, ip, judgement, now) {
      const counts = countVerdicts(judgement);
      if (counts.attempted === 0) return;
      const key = REDIS_KEYS.verdicts(
        pool.key,
        Math.floor(now / VERDICT_BUCKET_MS) * VERDICT_BUCKET_MS,
      );
      for (const kind of KINDS) batch.count(key, field(ip, kind), counts[kind], BUCKET_TTL_S);
    },
    async read(pool, since, now) {
      const first = Math.ceil(since / VERDICT_BUCKET_MS) * VERDICT_BUCKET_MS;
      const buckets: number[] = [];
      for (let b = first; b <= now; b += VERDICT_BUCKET_MS) buckets.push(b);
      const fields = pool.ips.flatMap((ip) => KINDS.map((k) => field(ip.address, k)));
      const out = new Map<string, ReceiverCounts>(
        pool.ips.map((ip) => [ip.address, { attempted: 0, blocked: 0, hard: 0, throttled: 0 }]),
      );
      if (fields.length === 0 || buckets.length === 0) return out;
      const pipeline = redis.pipeline();
      for (const b of buckets) pipeline.hmget(REDIS_KEYS.verdicts(pool.key, b), ...fields);
      for (const [err, values] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        (values as (string | null)[]).forEach((value, i) => {
          if (value === null) return;
          const ip = pool.ips[Math.floor(i / KINDS.length)]?.address as string;
          const kind = KINDS[i % KINDS.length] as (typeof KINDS)[number];
          const counts = out.get(ip) as ReceiverCounts;
          counts[kind] += Number(value);
        });
      }
      return out;
    },
  };
}
