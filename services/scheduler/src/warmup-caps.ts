/**
 * Today's warm-up cap of each warming IP, as the scheduler enforces it. The standing is
 * read with core's readWarmup (the same reading RelayPool status uses); when a new day
 * began, the advanced state is written with compare-and-set, so exactly one replica moves
 * an IP on (or holds it) and the others read its result. Caps are cached per pool and day;
 * the reserve script refuses a slot when the stored state differs from the one a cap was
 * computed from ('stale'), and the cache is then dropped.
 */

import { type CompiledPool, REDIS_KEYS, readWarmup } from '@hikyaku/core';
import { dayKeyFormatter } from '@hikyaku/core/policy';
import type { Redis } from 'ioredis';
import { SchedulerError } from './errors.ts';
import { HASH_CAS } from './hash-cas.ts';

export interface IpCap {
  /** Messages allowed today. */
  limit: number;
  /** The stored state (JSON) the limit was computed from; '' before the start date. */
  stored: string;
  day: number;
}

export interface DayCaps {
  /** The calendar day (pool time zone) the caps are for. */
  dayKey: string;
  /** Warming IPs only; an IP without an entry has no cap. */
  caps: Map<string, IpCap>;
}

export interface WarmupCaps {
  get(pool: CompiledPool, now: number): Promise<DayCaps>;
  invalidate(pool: CompiledPool): void;
}

const CAS_ATTEMPTS = 8;
/** A cached reading is trusted this long (real time) within its day. */
const CACHE_MS = 30_000;

export function createWarmupCaps(redis: Redis, realNow: () => number): WarmupCaps {
  const cache = new WeakMap<CompiledPool, { caps: DayCaps; until: number }>();
  const dayOf = new WeakMap<CompiledPool, (now: number) => string>();

  async function load(pool: CompiledPool, now: number, dayKey: string): Promise<DayCaps> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const readings = await readWarmup(redis, pool, now);
      let raced = false;
      const caps = new Map<string, IpCap>();
      for (const [address, reading] of readings) {
        const { today } = reading;
        let stored = reading.stored ?? '';
        if (today.changed && today.state) {
          const next = JSON.stringify(today.state);
          const key = REDIS_KEYS.warmup(pool.key);
          if ((await HASH_CAS.run(redis, [key], [address, stored, next])) !== 1) {
            raced = true;
            break;
          }
          stored = next;
        }
        caps.set(address, { limit: today.dailyLimit, stored, day: today.day });
      }
      if (!raced) return { dayKey, caps };
    }
    throw new SchedulerError(
      'HIKYAKU_STATE_CONTENDED',
      `warm-up state of ${pool.key} kept changing`,
    );
  }

  return {
    async get(pool, now) {
      let format = dayOf.get(pool);
      if (!format) {
        format = dayKeyFormatter(pool.timeZone);
        dayOf.set(pool, format);
      }
      const dayKey = format(now);
      const hit = cache.get(pool);
      if (hit && hit.caps.dayKey === dayKey && hit.until > realNow()) return hit.caps;
      const caps = await load(pool, now, dayKey);
      cache.set(pool, { caps, until: realNow() + CACHE_MS });
      return caps;
    },
    invalidate(pool) {
      cache.delete(pool);
    },
  };
}
