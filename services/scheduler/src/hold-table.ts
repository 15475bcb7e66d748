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

/**
 * A hold table whose `isHeld` answers from a copy of the pool's table read at most once per
 * `maxAgeMs` (real time), so the queue stage does not ask Redis once per item. A hold or a
 * release made elsewhere (another replica, the CLI) is seen within `maxAgeMs`; one made
 * through this table at once.
 */
export function cachedHoldTable<T extends { at: number }>(
  table: HoldTable<T>,
  maxAgeMs: number,
  normalize: (name: string) => string = (name) => name.toLowerCase(),
  elapsed: () => number = () => performance.now(),
): HoldTable<T> {
  const copies = new Map<string, { readAt: number; names: Promise<Set<string>> }>();
  function names(pool: string): Promise<Set<string>> {
    const copy = copies.get(pool);
    if (copy && elapsed() - copy.readAt < maxAgeMs) return copy.names;
    const read = table.list(pool).then((all) => new Set(all.keys()));
    // A failed read is not kept: the next item asks again.
    read.catch(() => {
      if (copies.get(pool)?.names === read) copies.delete(pool);
    });
    copies.set(pool, { readAt: elapsed(), names: read });
    return read;
  }
  return {
    async isHeld(pool, domain) {
      return (await names(pool)).has(normalize(domain));
    },
    async hold(pool, domain, hold) {
      copies.delete(pool);
      return table.hold(pool, domain, hold);
    },
    async release(pool, domain) {
      copies.delete(pool);
      return table.release(pool, domain);
    },
    list: (pool) => table.list(pool),
  };
}
