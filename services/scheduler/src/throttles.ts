/**
 * What adaptive shaping learned per (IP, site), shared by every replica in one Redis hash
 * per pool and surviving restarts. The transitions are the pure policy's
 * (onThrottleSignal); they are applied with compare-and-set, so two replicas recording
 * the same episode at once cut the rate once, not twice. What the signal needs to know
 * of the pair's recent sending (its dispatches in the last rate window, the receiver's
 * count) is read here from the reserve script's log. States are removed a day after they
 * stopped slowing anything.
 */

import { REDIS_KEYS, throttleField } from '@hikyaku/core';
import {
  isThrottleState,
  onThrottleSignal,
  type ThrottleSettings,
  type ThrottleSignal,
  type ThrottleState,
  throttleSettledAt,
} from '@hikyaku/core/policy';
import type { Redis } from 'ioredis';
import { SchedulerError } from './errors.ts';
import { HASH_CAS } from './hash-cas.ts';

const CAS_ATTEMPTS = 8;

function parse(raw: string | null | undefined): ThrottleState | undefined {
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return isThrottleState(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface ThrottleStore {
  /**
   * Where one site's states for these IPs are, for a caller that reads them along with
   * something else (admission's turn script).
   */
  where(pool: string, site: string, ips: readonly string[]): { key: string; fields: string[] };
  /** The states from what was read at `where` (undefined: never throttled, or settled). */
  parse(raw: readonly (string | null)[]): (ThrottleState | undefined)[];
  /**
   * Records a "slow down" signal; returns the state now in force and whether the signal
   * changed it (false: it told nothing new; a reply of an episode already recorded only
   * refines that episode's ceiling).
   */
  signal(
    pool: string,
    ip: string,
    site: string,
    settings: ThrottleSettings,
    signal: Omit<ThrottleSignal, 'measured'> & { windowMs: number },
  ): Promise<{ state: ThrottleState; changed: boolean }>;
  /** Removes states that have fully recovered by `now`. */
  sweep(pool: string, now: number): Promise<void>;
}

export function createThrottleStore(redis: Redis): ThrottleStore {
  return {
    where(pool, site, ips) {
      return { key: REDIS_KEYS.throttle(pool), fields: ips.map((ip) => throttleField(ip, site)) };
    },

    parse(raw) {
      return raw.map(parse);
    },

    async signal(pool, ip, site, settings, input) {
      const key = REDIS_KEYS.throttle(pool);
      const field = throttleField(ip, site);
      const { windowMs, ...rest } = input;
      // Counted up to the refused job's own dispatch: what the receiver had taken when it
      // said no, without the dispatches still under way behind it.
      const end = input.dispatchedAt ?? input.now;
      const measured = await redis.zcount(
        REDIS_KEYS.rateLog(pool, ip, site),
        `(${end - windowMs}`,
        String(end),
      );
      for (let i = 0; i < CAS_ATTEMPTS; i++) {
        const raw = (await redis.hget(key, field)) ?? '';
        const current = parse(raw);
        const next = onThrottleSignal(current, { ...rest, measured }, settings);
        if (next === current) return { state: next, changed: false };
        if ((await HASH_CAS.run(redis, [key], [field, raw, JSON.stringify(next)])) === 1) {
          return { state: next, changed: true };
        }
      }
      throw new SchedulerError('HIKYAKU_STATE_CONTENDED', `throttle state ${field} kept changing`);
    },

    async sweep(pool, now) {
      const key = REDIS_KEYS.throttle(pool);
      const all = await redis.hgetall(key);
      for (const [field, raw] of Object.entries(all)) {
        const state = parse(raw);
        if (state === undefined || throttleSettledAt(state) <= now) {
          await HASH_CAS.run(redis, [key], [field, raw, '']);
        }
      }
    },
  };
}
