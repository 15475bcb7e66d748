/**
 * Accepted envelopes become delivery items: recipients on the pool's suppression list are
 * dropped (with a `suppressed` event), the rest are grouped by destination domain and cut
 * into parts of at most the rate policy's recipients per message, one queue item each.
 */

import {
  codecs,
  type DeliveryEvent,
  type Envelope,
  type QueueItem,
  SchemaError,
  suppressionAddress,
  usesReturnPath,
} from '@hikyaku/core';
import type { JsMsg } from '@nats-io/jetstream';
import { itemKey } from './admission.ts';
import { dsnFor } from './dsn-params.ts';
import { deliveryEvent } from './events.ts';
import { nakDelay, publishItem, type SchedulerParts } from './parts.ts';
import { groupByDomain, groupKey, splitRecipients } from './split.ts';

/** How long an envelope waits when its pool's policy is not known yet (KV not written). */
const UNKNOWN_POOL_DELAY_MS = 5000;
/** The tracker outlives the message's maximum age by this much. */
const TRACKER_EXTRA_MS = 86_400_000;

/**
 * Drops a message no stage can read. Acknowledged, not terminated: nats-server 2.9 keeps a
 * terminated message in a work-queue stream for ever, behind its consumer's floor, where
 * the consumer watchdog would take it for a stranded one.
 */
export function rejectMalformed(parts: SchedulerParts, msg: JsMsg, err: unknown): void {
  parts.log.error(
    {
      err,
      subject: msg.subject,
      seq: msg.seq,
      reason: err instanceof SchemaError ? err.message : 'malformed',
    },
    'dropping malformed message',
  );
  msg.ack();
}

export function createEnvelopeHandler(parts: SchedulerParts) {
  const { pools, destinations, suppressions, parking, tracker, events, metrics, clock } = parts;

  return async function handleEnvelope(msg: JsMsg): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = codecs.envelope.decode(msg.data);
    } catch (err) {
      rejectMalformed(parts, msg, err);
      return;
    }
    const pool = pools.get(envelope.pool);
    if (!pool) {
      metrics.deferred.inc({ pool: envelope.pool, reason: 'unknown-pool' });
      msg.nak(nakDelay(parts, UNKNOWN_POOL_DELAY_MS));
      return;
    }
    const now = clock.now();
    const suppressed = await suppressions.lookup(pool.key, envelope.rcpts);
    const out: DeliveryEvent[] = envelope.rcpts.map((rcpt) =>
      deliveryEvent('accepted', envelope, rcpt, now),
    );
    const keep: string[] = [];
    for (const rcpt of envelope.rcpts) {
      const entry = suppressed.get(suppressionAddress(rcpt));
      if (!entry) {
        keep.push(rcpt);
        continue;
      }
      out.push(
        deliveryEvent('suppressed', envelope, rcpt, now, {
          code: 550,
          enhanced: '5.1.1',
          text: `5.1.1 Recipient is on the suppression list (${entry.reason})`,
        }),
      );
    }

    const items: { item: QueueItem; policy: string }[] = [];
    // The pool's return path names one recipient: such mail goes one recipient at a time.
    const onePerRecipient = usesReturnPath(pool, envelope.from);
    for (const [domain, rcpts] of groupByDomain(keep)) {
      const { policy } = await destinations.resolve(pool, domain);
      const size = onePerRecipient ? 1 : policy.perIp.recipientsPerMessage;
      const shares = splitRecipients(rcpts, size);
      shares.forEach((share, part) => {
        items.push({
          policy: policy.name,
          item: {
            v: 1,
            id: envelope.id,
            pool: envelope.pool,
            domain,
            from: envelope.from,
            rcpts: share,
            body: envelope.body,
            receivedAt: envelope.receivedAt,
            attempt: 0,
            notBefore: envelope.receivedAt,
            ...(shares.length > 1 ? { part } : {}),
            ...(envelope.bulk ? { bulk: true } : {}),
            ...(envelope.messageId ? { messageId: envelope.messageId } : {}),
            ...(envelope.submitter ? { submitter: envelope.submitter } : {}),
            ...dsnFor(envelope, share),
          },
        });
      });
    }
    if (items.length > 0) {
      await tracker.open(
        pool.key,
        envelope.id,
        items.map(({ item }) => groupKey(item)),
        pool.retry.maxAgeMs + TRACKER_EXTRA_MS,
      );
      await Promise.all(
        items.map(({ item, policy }) =>
          parking.track(pool.key, itemKey(item), policy, item.receivedAt),
        ),
      );
      await Promise.all(items.map(({ item }) => publishItem(parts, item)));
    }
    for (const e of out)
      if (e.type === 'suppressed') metrics.outcomes.inc({ pool: pool.key, type: e.type });
    await events.publish(out);
    if (items.length === 0) {
      // Every recipient was suppressed: nothing will read the body again.
      await parts.bodies.remove(envelope.id, envelope.body).catch((err: unknown) => {
        parts.log.warn({ err, id: envelope.id }, 'could not remove body; max age will');
      });
    }
    msg.ack();
  };
}
