/**
 * The complaint guard's state in Redis, shared by every replica: per sender domain (or per
 * submitter: the same guard, another scope) and calendar day, how much of its mail was
 * delivered and complained about; and the domains or submitters whose bulk mail is held
 * until an admin releases them (`hikyaku holds release`). The verdict itself is the pure
 * judgeComplaintRate. Holds are kept in a hold table (hold-table.ts) like the destinations
 * an admin holds.
 */

import { type CompiledPool, type ComplaintReport, REDIS_KEYS } from '@hikyaku/core';
import {
  type ComplaintVerdict,
  calendarDayKey,
  DAY,
  judgeComplaintRate,
} from '@hikyaku/core/policy';
import type { Redis } from 'ioredis';
import { createHoldTable } from './hold-table.ts';
import type { RedisBatch } from './redis-batch.ts';

/**
 * Where one scope of the guard keeps its counts, levels and holds. The functions below
 * name what they judge `domain`; in the submitter scope it is the submitter's username.
 */
export interface ComplaintScope {
  day(pool: string, dayKey: string): string;
  holds(pool: string): string;
  levels(pool: string): string;
  /** How an admin's spelling of a name is matched: domains case-blind, usernames exactly. */
  normalize(name: string): string;
}

export const SENDER_DOMAIN_SCOPE: ComplaintScope = {
  day: REDIS_KEYS.senderDomainDay,
  holds: REDIS_KEYS.complaintHolds,
  levels: REDIS_KEYS.complaintLevels,
  normalize: (domain) => domain.toLowerCase(),
};

export const SUBMITTER_SCOPE: ComplaintScope = {
  day: REDIS_KEYS.submitterDay,
  holds: REDIS_KEYS.submitterHolds,
  levels: REDIS_KEYS.submitterLevels,
  normalize: (username) => username,
};

export interface ComplaintHold {
  /** The rate that crossed the stop line. */
  rate: number;
  delivered: number;
  complaints: number;
  /** When the hold began (epoch ms). */
  at: number;
}

export interface ComplaintWindow extends ComplaintVerdict {
  domain: string;
  delivered: number;
  complaints: number;
  /** True when this complaint started a hold (it was not held before). */
  heldNow: boolean;
}

function dayKeys(pool: CompiledPool, now: number, days: number): string[] {
  const keys = new Set<string>();
  for (let i = 0; i < days; i++) keys.add(calendarDayKey(now - i * DAY, pool.timeZone));
  return [...keys];
}

export function createComplaintHolds(redis: Redis, scope: ComplaintScope = SENDER_DOMAIN_SCOPE) {
  const held = createHoldTable<ComplaintHold>(redis, scope.holds, scope.normalize);

  /** Keeps (or forgets) a domain over the warning line, so its rate is reviewed as mail flows. */
  async function remember(
    pool: string,
    domain: string,
    over: (ComplaintVerdict & { delivered: number; complaints: number }) | undefined,
  ) {
    const key = scope.levels(pool);
    if (over) await redis.hset(key, domain, JSON.stringify(over));
    else await redis.hdel(key, domain);
  }

  async function count(pool: CompiledPool, domain: string, what: string, n: number, now: number) {
    const guard = pool.feedback?.complaints;
    if (!guard || domain === '' || n <= 0) return;
    const key = scope.day(pool.key, calendarDayKey(now, pool.timeZone));
    await redis
      .multi()
      .hincrby(key, `${domain}|${what}`, n)
      .expire(key, (guard.windowDays + 1) * 86_400)
      .exec();
  }

  async function windowCounts(pool: CompiledPool, domain: string, days: number, now: number) {
    const keys = dayKeys(pool, now, days);
    const pipeline = redis.pipeline();
    for (const day of keys) {
      pipeline.hmget(scope.day(pool.key, day), `${domain}|delivered`, `${domain}|complaints`);
    }
    let delivered = 0;
    let complaints = 0;
    for (const [err, values] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      const [d, c] = values as [string | null, string | null];
      delivered += Number(d ?? 0);
      complaints += Number(c ?? 0);
    }
    return { delivered, complaints };
  }

  return {
    /**
     * Counts delivered messages of a sender domain (pools with feedback only), in a stage's
     * batch of Redis writes.
     */
    deliveredIn(batch: RedisBatch, pool: CompiledPool, domain: string, n: number, now: number) {
      const guard = pool.feedback?.complaints;
      if (!guard || domain === '' || n <= 0) return;
      const key = scope.day(pool.key, calendarDayKey(now, pool.timeZone));
      batch.count(key, `${domain}|delivered`, n, (guard.windowDays + 1) * 86_400);
    },

    /** Counts one complaint and judges the domain's window; holds it when the guard says so. */
    async complained(
      pool: CompiledPool,
      domain: string,
      now: number,
    ): Promise<ComplaintWindow | undefined> {
      const guard = pool.feedback?.complaints;
      if (!guard || domain === '') return undefined;
      await count(pool, domain, 'complaints', 1, now);
      const counts = await windowCounts(pool, domain, guard.windowDays, now);
      const verdict = judgeComplaintRate(guard, counts);
      await remember(
        pool.key,
        domain,
        verdict.level === 'ok' ? undefined : { ...counts, ...verdict },
      );
      let heldNow = false;
      if (verdict.hold) {
        const hold: ComplaintHold = { rate: verdict.rate, ...counts, at: now };
        heldNow = await held.hold(pool.key, domain, hold);
      }
      return { domain, ...counts, ...verdict, heldNow };
    },

    /**
     * Judges again every domain over the warning line or held (delivered mail brings a rate
     * down); forgets those back under it. What the pool's status and gauges show.
     */
    async review(pool: CompiledPool, now: number): Promise<ComplaintReport[]> {
      const guard = pool.feedback?.complaints;
      const over = await redis.hkeys(scope.levels(pool.key));
      const heldNow = [...(await held.list(pool.key)).keys()];
      const reports: ComplaintReport[] = [];
      for (const domain of new Set([...over, ...heldNow])) {
        const counts = guard
          ? await windowCounts(pool, domain, guard.windowDays, now)
          : { delivered: 0, complaints: 0 };
        const verdict = guard ? judgeComplaintRate(guard, counts) : undefined;
        const level = verdict?.level ?? 'ok';
        await remember(
          pool.key,
          domain,
          verdict && level !== 'ok' ? { ...counts, ...verdict } : undefined,
        );
        const isHeld = heldNow.includes(domain);
        if (level === 'ok' && !isHeld) continue;
        reports.push({
          domain,
          level: level === 'ok' ? 'stop' : level,
          rate: verdict?.rate ?? 0,
          ...counts,
          held: isHeld,
        });
      }
      return reports.sort((a, b) => a.domain.localeCompare(b.domain));
    },

    isHeld: held.isHeld,
    list: held.list,
    release: held.release,
  };
}

export type ComplaintHolds = ReturnType<typeof createComplaintHolds>;
