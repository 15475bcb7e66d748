/**
 * Accepted envelopes become delivery items: recipients on the pool's suppression list are
 * dropped (with a `suppressed` event), the rest are grouped by destination domain and cut
 * into parts of at most the rate policy's recipients per message, one queue item each.
 *
 * Envelopes arrive two ways, and both feed the same stage: as messages of the envelopes
 * stream, and in the header of their body's own message in the bodies stream (an ingress
 * at wire version 2 stores an inline body and its envelope in one write). Only the adapters
 * at the end of this file know which.
 */

import {
  type BodyRef,
  codecs,
  type DeliveryEvent,
  ENVELOPE_HEADER,
  type Envelope,
  envelopeHeader,
  NEWER_WIRE_VERSION_RETRY_MS,
  SchemaError,
  suppressionAddress,
  usesReturnPath,
  WireVersionError,
} from '@hikyaku/core';
import type { ResolvedRatePolicy } from '@hikyaku/core/policy';
import type { JsMsg } from '@nats-io/jetstream';
import { itemKey } from './admission.ts';
import { deliveryEvent } from './events.ts';
import { nakDelay, publishItem, type SchedulerParts } from './parts.ts';
import { RedisBatch } from './redis-batch.ts';
import { groupByDomain, groupKey } from './split.ts';
import { firstItems } from './transitions.ts';

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
  if (err instanceof WireVersionError) {
    // Written by a newer release: not malformed, and a pod of that release will take it.
    parts.log.warn({ code: err.code, subject: msg.subject, seq: msg.seq }, err.message);
    msg.nak(nakDelay(parts, NEWER_WIRE_VERSION_RETRY_MS));
    return;
  }
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

/** What became of an envelope: taken (acknowledge it), or to be handed back for a while. */
export type EnvelopeOutcome = { done: true } | { done: false; retryInMs: number };

const DONE: EnvelopeOutcome = { done: true };

/**
 * The envelope stage, whichever stream the envelope came from: a decoded envelope and the
 * ref of its stored body. Every output is stored before it answers `done`.
 */
export function createEnvelopeStage(parts: SchedulerParts) {
  const { pools, destinations, suppressions, parking, tracker, events, metrics, clock } = parts;

  return async function handleEnvelope(
    decoded: Omit<Envelope, 'body'>,
    body: BodyRef,
  ): Promise<EnvelopeOutcome> {
    const envelope: Envelope = { ...decoded, body };
    const pool = pools.get(envelope.pool);
    if (!pool) {
      metrics.deferred.inc({ pool: envelope.pool, reason: 'unknown-pool' });
      return { done: false, retryInMs: nakDelay(parts, UNKNOWN_POOL_DELAY_MS) };
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

    // The pool's return path names one recipient: such mail goes one recipient at a time.
    const onePerRecipient = usesReturnPath(pool, envelope.from);
    const policies = new Map<string, ResolvedRatePolicy>();
    for (const domain of groupByDomain(keep).keys()) {
      policies.set(domain, (await destinations.resolve(pool, domain)).policy);
    }
    // firstItems groups by the same domains, so every item's domain has its policy here.
    const policyOf = (domain: string): ResolvedRatePolicy => {
      const policy = policies.get(domain);
      if (!policy) throw new Error(`no rate policy resolved for ${domain}`);
      return policy;
    };
    const items = firstItems(envelope, keep, (domain) =>
      onePerRecipient ? 1 : policyOf(domain).perIp.recipientsPerMessage,
    );
    if (items.length > 0) {
      const writes = new RedisBatch();
      tracker.openIn(
        writes,
        pool.key,
        envelope.id,
        items.map((item) => groupKey(item.delivery)),
        pool.retry.maxAgeMs + TRACKER_EXTRA_MS,
      );
      for (const item of items) {
        parking.trackIn(
          writes,
          pool.key,
          itemKey(item),
          policyOf(item.delivery.domain).name,
          item.delivery.receivedAt,
        );
      }
      await writes.run(parts.redis);
      await Promise.all(items.map((item) => publishItem(parts, item)));
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
    return DONE;
  };
}

function settle(msg: JsMsg, outcome: EnvelopeOutcome): void {
  if (outcome.done) msg.ack();
  else msg.nak(outcome.retryInMs);
}

/** Envelopes of the envelopes stream: wire version 1 ingress, bodies in the object store, DSNs. */
export function createEnvelopeHandler(parts: SchedulerParts) {
  const handle = createEnvelopeStage(parts);
  return async function handleEnvelopeMessage(msg: JsMsg): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = codecs.envelope.decode(msg.data);
    } catch (err) {
      rejectMalformed(parts, msg, err);
      return;
    }
    settle(msg, await handle(envelope, envelope.body));
  };
}

/**
 * Envelopes in the header of their body's message, read by a headers-only consumer of the
 * bodies stream (the body's bytes never reach the scheduler). The body is that very message:
 * its ref is inline, at the message's own stream sequence. A body without the header (from
 * an ingress at wire version 1, a feedback report, a DSN) has its envelope elsewhere, if
 * any: it is acknowledged and left alone.
 */
export function createBodyEnvelopeHandler(parts: SchedulerParts) {
  const handle = createEnvelopeStage(parts);
  return async function handleBodyMessage(msg: JsMsg): Promise<void> {
    const value = msg.headers?.get(ENVELOPE_HEADER);
    if (!value) {
      msg.ack();
      return;
    }
    let envelope: Envelope;
    try {
      envelope = envelopeHeader.decode(value);
    } catch (err) {
      rejectMalformed(parts, msg, err);
      return;
    }
    settle(
      msg,
      await handle(envelope, { store: 'stream', size: envelope.body.size, seq: msg.seq }),
    );
  };
}
