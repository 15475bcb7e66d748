/**
 * The per-submitter message rate (`messagesPerMinute`), shared by every ingress replica
 * through Redis: one counter per submitter and calendar minute, incremented and given its
 * expiry in one script, so concurrent transactions on different replicas never both take
 * the last slot. A transaction counts when its MAIL FROM is accepted. A fixed window lets a
 * client send up to twice the rate across a minute boundary; the scheduler's own pacing
 * is what protects the destinations.
 */

import { REDIS_KEYS, redisScript } from '@hikyaku/core';
import type { Redis } from 'ioredis';

const WINDOW_MS = 60_000;

// KEYS[1] counter, ARGV[1] limit, ARGV[2] expiry in ms. Returns 1 when taken, 0 when over.
const TAKE = redisScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
`);

export interface SubmitterQuota {
  /** Takes one message from the submitter's allowance for the minute of `now`. */
  take(pool: string, submitter: string, perMinute: number, now: number): Promise<boolean>;
}

export function createSubmitterQuota(redis: Redis): SubmitterQuota {
  return {
    async take(pool, submitter, perMinute, now) {
      const minute = Math.floor(now / WINDOW_MS);
      const key = REDIS_KEYS.submitterMinute(pool, submitter, minute);
      // The counter outlives its minute a little, so clock skew between replicas cannot
      // make one of them start the minute over.
      const taken = await TAKE.run(redis, [key], [perMinute, 2 * WINDOW_MS]);
      return taken === 1;
    },
  };
}
