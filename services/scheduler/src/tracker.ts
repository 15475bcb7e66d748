/**
 * Which destination groups of a message are still open. When the last one reaches a final
 * outcome the body is no longer needed and is removed; the body stream's max age is the
 * backstop if this bookkeeping is ever lost.
 */

import { redisScript } from '@hikyaku/core';
import type { Redis } from 'ioredis';

const FINISH_SCRIPT = redisScript(`
redis.call('SREM', KEYS[1], ARGV[1])
local left = redis.call('SCARD', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[1]) end
return left
`);

export function messageGroupsKey(pool: string, messageId: string): string {
  return `hikyaku:{${pool}}:msg:${messageId}:open`;
}

export function createMessageTracker(redis: Redis) {
  return {
    async open(pool: string, messageId: string, domains: string[], ttlMs: number): Promise<void> {
      const key = messageGroupsKey(pool, messageId);
      await redis
        .multi()
        .sadd(key, ...domains)
        .pexpire(key, ttlMs)
        .exec();
    },
    /** Marks a group final; returns true when it was the message's last open group. */
    async finish(pool: string, messageId: string, domain: string): Promise<boolean> {
      const left = (await FINISH_SCRIPT.run(
        redis,
        [messageGroupsKey(pool, messageId)],
        [domain],
      )) as number;
      return left === 0;
    },
  };
}

export type MessageTracker = ReturnType<typeof createMessageTracker>;
