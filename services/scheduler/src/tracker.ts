/**
 * Which destination groups of a message are still open. When the last one reaches a final
 * outcome the body is no longer needed and is removed; the body stream's max age is the
 * backstop if this bookkeeping is ever lost.
 */

import { REDIS_KEYS } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import { RedisBatch } from './redis-batch.ts';

export function createMessageTracker(redis: Redis) {
  /** Adds the opening of a message's groups to a stage's batch of Redis writes. */
  function openIn(
    batch: RedisBatch,
    pool: string,
    messageId: string,
    groups: string[],
    ttlMs: number,
  ) {
    batch.open(REDIS_KEYS.messageGroups(pool, messageId), groups, ttlMs);
  }
  /** Adds a group's end to a batch; its run then returns 0 when it was the last one. */
  function finishIn(batch: RedisBatch, pool: string, messageId: string, group: string) {
    batch.finish(REDIS_KEYS.messageGroups(pool, messageId), group);
  }
  return {
    openIn,
    finishIn,
    async open(pool: string, messageId: string, groups: string[], ttlMs: number): Promise<void> {
      const batch = new RedisBatch();
      openIn(batch, pool, messageId, groups, ttlMs);
      await batch.run(redis);
    },
    /** Marks a group final; returns true when it was the message's last open group. */
    async finish(pool: string, messageId: string, group: string): Promise<boolean> {
      const batch = new RedisBatch();
      finishIn(batch, pool, messageId, group);
      return (await batch.run(redis)) === 0;
    },
  };
}

export type MessageTracker = ReturnType<typeof createMessageTracker>;
