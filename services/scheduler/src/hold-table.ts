/**
 * A table of held domains in Redis, one hash per pool: domain -> JSON of why and since
 * when. The complaint guard holds sender domains in one (complaint-holds.ts), an admin
 * holds destinations in another (destination-holds.ts); every scheduler replica reads the
 * same table, so a hold or a release counts at once everywhere. Names are kept as `normalize`
 * spells them: lower-case by default (domains); the complaint guard's submitter scope keeps
 * usernames exact.
 */
import type { Redis } from 'ioredis';

export interface HoldTable<T extends { at: number }> {
  isHeld(pool: string, domain: string): Promise<boolean>;
  /** Holds a domain; true when it was not held before (a second hold keeps the first). */
  hold(pool: string, domain: string, hold: T): Promise<boolean>;
  /** Lifts a hold; true when the domain was held. */
  release(pool: string, domain: string): Promise<boolean>;
  list(pool: string): Promise<Map<string, T>>;
}

export function createHoldTable<T extends { at: number }>(
  redis: Redis,
  keyOf: (pool: string) => string,
  normalize: (name: string) => string = (name) => name.toLowerCase(),
): HoldTable<T> {
  return {
    async isHeld(pool, domain) {
      return (await redis.hexists(keyOf(pool), normalize(domain))) === 1;
    },
    async hold(pool, domain, hold) {
      return (await redis.hsetnx(keyOf(pool), normalize(domain), JSON.stringify(hold))) === 1;
    },
    async release(pool, domain) {
      return (await redis.hdel(keyOf(pool), normalize(domain))) > 0;
    },
    async list(pool) {
      const all = await redis.hgetall(keyOf(pool));
      return new Map(
        Object.entries(all).map(([domain, value]) => [domain, JSON.parse(value) as T]),
      );
    },
  };
}
