/**
 * Destinations an admin holds (`hikyaku queue --hold DOMAIN`): nothing is sent to a held
 * domain, its mail waits in the queue (its maximum age still applies) until the release.
 * Kept in Redis like the complaint guard's sender-domain holds (complaint-holds.ts), so
 * every scheduler replica honours a hold as soon as it is written.
 */
import { REDIS_KEYS } from '@hikyaku/core';
import type { Redis } from 'ioredis';

export interface DestinationHold {
  /** When the hold began (epoch ms). */
  at: number;
}

export function createDestinationHolds(redis: Redis) {
  const key = REDIS_KEYS.destinationHolds;
  return {
    isHeld(pool: string, domain: string): Promise<boolean> {
      return redis.hexists(key(pool), domain.toLowerCase()).then((n) => n === 1);
    },

    /** Holds a domain; true when it was not held before (a second hold keeps the first time). */
    async hold(pool: string, domain: string, at: number): Promise<boolean> {
      const hold: DestinationHold = { at };
      return (await redis.hsetnx(key(pool), domain.toLowerCase(), JSON.stringify(hold))) === 1;
    },

    /** Lifts a hold; true when the domain was held. */
    async release(pool: string, domain: string): Promise<boolean> {
      return (await redis.hdel(key(pool), domain.toLowerCase())) > 0;
    },

    async list(pool: string): Promise<Map<string, DestinationHold>> {
      const all = await redis.hgetall(key(pool));
      return new Map(
        Object.entries(all).map(([domain, value]) => [
          domain,
          JSON.parse(value) as DestinationHold,
        ]),
      );
    },
  };
}

export type DestinationHolds = ReturnType<typeof createDestinationHolds>;
