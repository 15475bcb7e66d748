/**
 * Who handed in a message, kept for the complaint guard: a complaint report names the
 * message (through the return path token), not its submitter, and the envelope is gone by
 * then. Kept only for mail sent with the pool's return path (nothing else can be complained
 * about attributably), for the guard's window plus a day: a complaint later than that no
 * longer counts against the submitter's rate anyway.
 */
import { type CompiledPool, REDIS_KEYS } from '@hikyaku/core';
import type { Redis } from 'ioredis';

export function createMessageSubmitters(redis: Redis) {
  return {
    async remember(pool: CompiledPool, id: string, submitter: string): Promise<void> {
      const guard = pool.feedback?.complaints;
      if (!guard) return;
      const ttl = (guard.windowDays + 1) * 86_400;
      await redis.set(REDIS_KEYS.messageSubmitter(pool.key, id), submitter, 'EX', ttl);
    },
    async of(pool: string, id: string): Promise<string | undefined> {
      return (await redis.get(REDIS_KEYS.messageSubmitter(pool, id))) ?? undefined;
    },
  };
}

export type MessageSubmitters = ReturnType<typeof createMessageSubmitters>;
