/**
 * Admission decides, for one delivery item that is due, whether it may leave now and from
 * which IP. This is the seam where shaping (rates, warm-up caps, throttling) plugs in; the
 * base admission spreads mail round-robin over the pool's active IPs with a cursor in
 * Redis, so every scheduler replica shares it.
 */
import type { Redis } from 'ioredis';
import { activeIps, type CompiledPool, type QueueItem, REDIS_KEYS } from '../../core/src/index.ts';

export type AdmissionDecision =
  | { kind: 'send'; ip: string; policy: string }
  | { kind: 'wait'; ms: number; reason: string };

export interface Admission {
  decide(item: QueueItem, pool: CompiledPool, now: number): Promise<AdmissionDecision>;
}

export function createRoundRobinAdmission(redis: Redis): Admission {
  return {
    async decide(_item, pool) {
      const ips = activeIps(pool);
      if (ips.length === 0) return { kind: 'wait', ms: 30_000, reason: 'no-active-ip' };
      const cursor = await redis.incr(REDIS_KEYS.ipCursor(pool.key));
      const ip = ips[cursor % ips.length] as (typeof ips)[number];
      return { kind: 'send', ip: ip.address, policy: 'default' };
    },
  };
}
