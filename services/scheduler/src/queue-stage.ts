/**
 * Delivery items that could not leave at their first look (at the envelope stage) and
 * retries wait here. Due items are released to the sender that owns the chosen IP; items
 * that may not leave yet are handed back to JetStream with a delay (nak), so they wait
 * inside the server, not in this process, and never hold up items for other destinations.
 * Their turn is kept in Redis (parking.ts). An item still waiting past its maximum age
 * expires here.
 */

import { type CompiledPool, codecs, type QueueItem } from '@hikyaku/core';
import { EXPIRED_STATUS } from '@hikyaku/core/policy';
import type { JsMsg } from '@nats-io/jetstream';
import { dispatch, holdOf } from './dispatch.ts';
import { rejectMalformed } from './envelope-stage.ts';
import { deliveryEvent } from './events.ts';
import { EXPIRY_GRACE_MS, nakDelay, type SchedulerParts } from './parts.ts';
import { expiredRecipient, expiryText } from './replies.ts';
import { groupKey } from './split.ts';
import { eventBaseOf, itemMsgId } from './transitions.ts';

const UNKNOWN_POOL_DELAY_MS = 5000;
/** How often held mail (complaint guard, or a held destination) looks whether it was released. */
const HOLD_RECHECK_MS = 60_000;

export function createQueueHandler(parts: SchedulerParts) {
  const { pools, admission, metrics, events, clock } = parts;

  async function expire(item: QueueItem, pool: CompiledPool, now: number, why: string) {
    const { delivery } = item;
    const lastReplies = new Map(item.lastReplies?.map((r) => [r.rcpt, r]));
    await admission.forget(item, pool);
    if (pool.bounces.notifySender) {
      const result = await parts.dsn.send(
        delivery,
        delivery.rcpts.map((rcpt) => expiredRecipient(rcpt, lastReplies.get(rcpt))),
        `${itemMsgId(item)}:expired`,
        now,
      );
      metrics.dsns.inc({ pool: pool.key, result });
    }
    const base = eventBaseOf(item);
    await events.publish(
      delivery.rcpts.map((rcpt) => {
        const last = lastReplies.get(rcpt);
        return deliveryEvent('expired', base, rcpt, now, {
          code: 550,
          enhanced: EXPIRED_STATUS,
          text: expiryText(item.attempt, why, last),
          ...(last?.remoteHost ? { remoteHost: last.remoteHost } : {}),
        });
      }),
    );
    metrics.outcomes.inc({ pool: pool.key, type: 'expired' }, delivery.rcpts.length);
    const last = await parts.tracker.finish(pool.key, delivery.id, groupKey(delivery));
    if (last) await parts.bodies.remove(delivery.id, delivery.body).catch(() => undefined);
  }

  /**
   * An item that waits at its first look has no outcome yet to carry its acceptance into
   * the trace: the acceptance is stored now, once (first delivery of a first attempt's
   * item). Mail the envelope stage sent at once never comes here and costs no such write.
   * An item the envelope stage saw waiting is published due and looked at here again at
   * once: it is stored here if it still waits; if its wait was over by then, it leaves now
   * and its outcome event dates its acceptance like any mail sent at once.
   */
  async function firstWait(item: QueueItem, msg: JsMsg): Promise<void> {
    if (item.attempt !== 0 || msg.info.deliveryCount !== 1) return;
    const base = eventBaseOf(item);
    await events.storeAcceptance(
      item.delivery.rcpts.map((rcpt) =>
        deliveryEvent('accepted', base, rcpt, item.delivery.receivedAt),
      ),
    );
  }

  return async function handleQueueItem(msg: JsMsg): Promise<void> {
    let item: QueueItem;
    try {
      item = codecs.queueItem.decode(msg.data);
    } catch (err) {
      rejectMalformed(parts, msg, err);
      return;
    }
    const now = clock.now();
    if (item.notBefore > now) {
      msg.nak(nakDelay(parts, item.notBefore - now));
      return;
    }
    const { delivery } = item;
    const pool = pools.get(delivery.pool);
    if (!pool) {
      metrics.deferred.inc({ pool: delivery.pool, reason: 'unknown-pool' });
      msg.nak(nakDelay(parts, UNKNOWN_POOL_DELAY_MS));
      return;
    }
    // The retry policy puts a message's last try at its deadline; anything else still
    // waiting at the deadline expires, and the last try may wait only briefly.
    const deadline = delivery.receivedAt + pool.retry.maxAgeMs;
    const lastTry = item.notBefore >= deadline;
    if (!lastTry && now >= deadline) {
      await expire(item, pool, now, 'while waiting to be sent');
      msg.ack();
      return;
    }
    const hold = await holdOf(parts, item, pool);
    if (hold) {
      if (now >= deadline) {
        await expire(item, pool, now, hold.why);
        msg.ack();
        return;
      }
      metrics.deferred.inc({ pool: pool.key, reason: hold.reason });
      await firstWait(item, msg);
      msg.nak(nakDelay(parts, Math.min(HOLD_RECHECK_MS, deadline - now)));
      return;
    }
    const decision = await admission.decide(item, pool, now);
    if (decision.kind === 'wait') {
      if (lastTry && decision.until > item.notBefore + EXPIRY_GRACE_MS) {
        await expire(item, pool, now, 'while waiting for its last try');
        msg.ack();
        return;
      }
      if (decision.reason !== 'parked') {
        metrics.deferred.inc({ pool: pool.key, reason: decision.reason });
      }
      const wake = lastTry ? decision.until : Math.min(decision.until, deadline);
      await firstWait(item, msg);
      msg.nak(nakDelay(parts, wake - now));
      return;
    }
    await dispatch(parts, item, pool, decision, now);
    msg.ack();
  };
}
