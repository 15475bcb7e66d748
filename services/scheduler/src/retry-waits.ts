/**
 * Deferred mail waiting for its next attempt, per destination: what the queue view shows
 * as "retry wait" (with the next attempt's time) and what `hikyaku queue --flush` makes due
 * now. The item itself waits in the queue stream (handed back with a delay); Redis keeps,
 * per (pool, domain), its key, its stream sequence and its retry time, written when the
 * retry is published. Entries are pruned as they fall due, and the key expires with the
 * pool's maximum age, so it never holds more than the destination's deferred mail.
 *
 * A flush copies each waiting item with its retry time set to now, then deletes the
 * original from the stream (JetStream treats a deleted pending message as acknowledged):
 * nothing is lost if it stops in between, at worst the item is tried twice, as any
 * redelivery may be.
 */
import { codecs, MSG_IDS, type QueueItem, REDIS_KEYS, STREAMS, SUBJECTS } from '@hikyaku/core';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { itemKey } from './admission.ts';
import { deliveryEvent, type EventPublisher } from './events.ts';
import type { RedisBatch } from './redis-batch.ts';
import { eventBaseOf } from './transitions.ts';

export interface RetryWait {
  /** The queue item's key (admission.ts itemKey). */
  item: string;
  /** Its sequence in the queue stream. */
  seq: number;
  /** When it is retried (epoch ms). */
  at: number;
}

function member(item: QueueItem, seq: number): string {
  return `${itemKey(item)}#${seq}`;
}

function parseMember(value: string, score: string): RetryWait {
  const hash = value.lastIndexOf('#');
  return { item: value.slice(0, hash), seq: Number(value.slice(hash + 1)), at: Number(score) };
}

/**
 * Adds the record of a retry just published at `seq` to a stage's batch of Redis writes;
 * entries of the domain that fell due are dropped with it.
 */
export function recordRetryWait(
  batch: RedisBatch,
  item: QueueItem,
  seq: number,
  now: number,
  ttlMs: number,
): void {
  const key = REDIS_KEYS.retryWaits(item.delivery.pool, item.delivery.domain);
  batch.replaceDue(key, now, item.notBefore, member(item, seq), ttlMs);
}

/** The destination's items still waiting for their retry at `now`, soonest first. */
export async function readRetryWaits(
  redis: Redis,
  pool: string,
  domain: string,
  now: number,
  limit: number,
): Promise<{ total: number; waits: RetryWait[] }> {
  const key = REDIS_KEYS.retryWaits(pool, domain);
  const [total, flat] = await Promise.all([
    redis.zcount(key, `(${now}`, '+inf'),
    redis.zrangebyscore(key, `(${now}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit),
  ]);
  const waits: RetryWait[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    waits.push(parseMember(flat[i] as string, flat[i + 1] as string));
  }
  return { total, waits };
}

/**
 * Makes every item of the destination that waits for its retry due at `now`; returns how
 * many items (and recipients) were flushed. Each recipient gets a `flushed` event, so the
 * trace shows why its next attempt came early.
 */
export async function flushRetryWaits(
  deps: { js: JetStreamClient; jsm: JetStreamManager; redis: Redis; events: EventPublisher },
  pool: string,
  domain: string,
  now: number,
): Promise<{ items: number; rcpts: number }> {
  const key = REDIS_KEYS.retryWaits(pool, domain);
  const flat = await deps.redis.zrangebyscore(key, `(${now}`, '+inf', 'WITHSCORES');
  let items = 0;
  let rcpts = 0;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const wait = parseMember(flat[i] as string, flat[i + 1] as string);
    const stored = await deps.jsm.streams.getMessage(STREAMS.queue, { seq: wait.seq });
    // Gone: dispatched, expired or flushed already.
    const item = stored ? codecs.queueItem.decode(stored.data) : undefined;
    if (item && item.notBefore > now && itemKey(item) === wait.item) {
      const due: QueueItem = { ...item, notBefore: now };
      await deps.js.publish(SUBJECTS.queue(pool), codecs.queueItem.encode(due), {
        msgID: MSG_IDS.flushedItem(wait.seq),
      });
      await deps.jsm.streams.deleteMessage(STREAMS.queue, wait.seq, false);
      await deps.events.publish(
        item.delivery.rcpts.map((rcpt) => deliveryEvent('flushed', eventBaseOf(item), rcpt, now)),
      );
      items++;
      rcpts += item.delivery.rcpts.length;
    }
    await deps.redis.zrem(key, flat[i] as string);
  }
  return { items, rcpts };
}
