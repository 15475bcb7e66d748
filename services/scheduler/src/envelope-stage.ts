/**
 * Accepted envelopes become delivery items: recipients on the pool's suppression list are
 * dropped (with a `suppressed` event), the rest are grouped by destination domain and cut
 * into parts of at most the rate policy's recipients per message. Each item meets at once
 * the checks the queue stage makes (holds, admission): one that may leave now is published
 * as a job from here, and only one that must wait becomes a queue item, so mail due at
 * once costs no queue write, no queue delivery and no second stage's ack.
 *
 * Envelopes arrive two ways, and both feed the same stage: as messages of the envelopes
 * stream, and in the header of their body's own message in the bodies stream (an ingress
 * at wire version 2 stores an inline body and its envelope in one write). Only the adapters
 * at the end of this file know which.
 */

import {
  type CompiledPool,
  codecs,
  type DeliveryEvent,
  ENVELOPE_HEADER,
  type Envelope,
  envelopeHeader,
  NEWER_WIRE_VERSION_RETRY_MS,
  parseSuppressionEntry,
  type QueueItem,
  REDIS_KEYS,
  SchemaError,
  type SuppressionEntry,
  suppressionAddress,
  usesReturnPath,
  WireVersionError,
} from '@hikyaku/core';
import type { ResolvedRatePolicy } from '@hikyaku/core/policy';
import type { JsMsg } from '@nats-io/jetstream';
import { itemKey, type WaitReason } from './admission.ts';
import { dispatch, holdOf, type SendDecision } from './dispatch.ts';
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

/** Recipients screened in admission's call at most; more are looked up on their own. */
const MAX_SCREENED = 1000;

/** One look at an item: suppressed recipients found, or its decision when it may leave. */
type Look =
  | { kind: 'suppressed'; found: (string | null)[] }
  | {
      kind: 'looked';
      decision?: SendDecision;
      /** Its recipients were screened against the suppression list in the same call. */
      screened: boolean;
      /** Why it must wait, when this look made it wait. */
      deferred?: WaitReason;
    };

/** A look made without a screen: it cannot find a suppressed recipient. */
type Looked = Extract<Look, { kind: 'looked' }>;

/** An envelope's delivery items, with the rate policy of each item's domain. */
interface Plan {
  items: QueueItem[];
  policyOf: (domain: string) => ResolvedRatePolicy;
}

/** What became of an envelope: routed (acknowledge it), or to be tried again later. */
export type EnvelopeOutcome = { kind: 'routed' } | { kind: 'retry'; delayMs: number };

/**
 * Routes one decoded envelope: its items leave as jobs or wait as queue items, its events
 * are published. It returns only when every job and queue item of the envelope is stored,
 * so the caller acknowledges the envelope after that and never before (a crash in between
 * redelivers it: see `sendsAtOnce` for why a second routing loses nothing).
 */
export function createEnvelopeRouter(parts: SchedulerParts) {
  const { pools, destinations, suppressions, parking, tracker, events, metrics, clock } = parts;
  const { admission } = parts;

  /**
   * The queue stage's checks at an item's first look, made here; the decision when the
   * item may leave now, undefined when it must go through the queue. Why this is safe:
   * - Lane order. `admission.decide` is the call the queue stage's first look makes, with
   *   the same item key (itemKey: attempt 0). Its turn check queues a new item behind
   *   anything waiting in its site lane, so `send` means no parked item of that lane was
   *   passed, exactly as in the queue stage.
   * - No second place in a lane. An item told to wait keeps the turn (or the ticket at the
   *   end of the lane) it got under that key; when the queue stage looks at its item, the
   *   turn check finds it as the item's own and waits for it instead of taking another,
   *   and the dispatch that ends the wait removes it (the reservation's release keys).
   *   A redelivered envelope finds the same turn the same way.
   * - Redelivery. Jobs and queue items keep their message ids (job id, itemMsgId), so an
   *   envelope routed twice within the duplicate window stores each once; an item that
   *   left as a job the first time and waits the second gives at most a duplicate
   *   delivery, never a loss.
   * - Redis. The turn check and the reservation are what the queue stage spent on a due
   *   item (one call when the home IP may take it), now spent here instead; a
   *   queued-index entry written for an item that then leaves is removed by its
   *   reservation's script, as before.
   */
  function sendsAtOnce(item: QueueItem, pool: CompiledPool, now: number): Promise<Looked>;
  function sendsAtOnce(
    item: QueueItem,
    pool: CompiledPool,
    now: number,
    screen: { key: string; fields: readonly string[] },
  ): Promise<Look>;
  async function sendsAtOnce(
    item: QueueItem,
    pool: CompiledPool,
    now: number,
    screen?: { key: string; fields: readonly string[] },
  ): Promise<Look> {
    // Due later (a clock behind the ingress's) or past its maximum age (the envelope
    // waited that long for a scheduler): the queue stage waits for it or expires it.
    if (item.notBefore > now || now >= item.delivery.receivedAt + pool.retry.maxAgeMs) {
      return { kind: 'looked', screened: false };
    }
    // Held mail is counted and rechecked by the queue stage, as at every look there.
    if (await holdOf(parts, item, pool)) return { kind: 'looked', screened: false };
    const looked = screen
      ? await admission.decideScreened(item, pool, now, screen)
      : ({
          kind: 'decided',
          decision: await admission.decide(item, pool, now),
          screened: false,
        } as const);
    if (looked.kind === 'suppressed') return looked;
    const { decision, screened } = looked;
    if (decision.kind === 'send') return { kind: 'looked', decision, screened };
    // This look made it wait, as the queue stage's first look would have: counted once the
    // items are final. The queue stage's look then finds the turn and waits for it
    // uncounted ('parked').
    return {
      kind: 'looked',
      screened,
      ...(decision.reason !== 'parked' ? { deferred: decision.reason } : {}),
    };
  }

  /** The envelope's delivery items for these recipients, with their domains' policies. */
  async function plan(envelope: Envelope, pool: CompiledPool, rcpts: string[]): Promise<Plan> {
    // The pool's return path names one recipient: such mail goes one recipient at a time.
    const onePerRecipient = usesReturnPath(pool, envelope.from);
    const policies = new Map<string, ResolvedRatePolicy>();
    for (const domain of groupByDomain(rcpts).keys()) {
      policies.set(domain, (await destinations.resolve(pool, domain)).policy);
    }
    // firstItems groups by the same domains, so every item's domain has its policy here.
    const policyOf = (domain: string): ResolvedRatePolicy => {
      const policy = policies.get(domain);
      if (!policy) throw new Error(`no rate policy resolved for ${domain}`);
      return policy;
    };
    const items = firstItems(envelope, rcpts, (domain) =>
      onePerRecipient ? 1 : policyOf(domain).perIp.recipientsPerMessage,
    );
    return { items, policyOf };
  }

  /**
   * An envelope of one item is looked at before its recipients are known not to be
   * suppressed: the lookup rides in admission's first Redis call, which decides nothing
   * and writes nothing when it finds one. Its decision stands when none is; otherwise the
   * items are planned again without the suppressed recipients and looked at as usual.
   */
  async function lookFirst(
    envelope: Envelope,
    pool: CompiledPool,
  ): Promise<
    | {
        suppressed?: Map<string, SuppressionEntry>;
        early?: { planned: Plan; look: Looked; lookedAt: number };
      }
    | undefined
  > {
    if (envelope.rcpts.length > MAX_SCREENED) return undefined;
    const planned = await plan(envelope, pool, envelope.rcpts);
    const [only] = planned.items;
    if (!only || planned.items.length > 1) return undefined;
    const fields = envelope.rcpts.map(suppressionAddress);
    const lookedAt = clock.now();
    const look = await sendsAtOnce(only, pool, lookedAt, {
      key: REDIS_KEYS.suppressions(pool.key),
      fields,
    });
    if (look.kind === 'suppressed') {
      const found = new Map<string, SuppressionEntry>();
      look.found.forEach((value, i) => {
        if (value !== null) found.set(fields[i] as string, parseSuppressionEntry(value));
      });
      return { suppressed: found };
    }
    return {
      ...(look.screened ? { suppressed: new Map<string, SuppressionEntry>() } : {}),
      early: { planned, look, lookedAt },
    };
  }

  return async function routeEnvelope(envelope: Envelope): Promise<EnvelopeOutcome> {
    const pool = pools.get(envelope.pool);
    if (!pool) {
      metrics.deferred.inc({ pool: envelope.pool, reason: 'unknown-pool' });
      return { kind: 'retry', delayMs: UNKNOWN_POOL_DELAY_MS };
    }
    const now = clock.now();
    const first = await lookFirst(envelope, pool);
    const suppressed = first?.suppressed ?? (await suppressions.lookup(pool.key, envelope.rcpts));
    const out: DeliveryEvent[] = [];
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

    // The look made first stands when every recipient is kept: its items are these.
    const early = suppressed.size === 0 ? first?.early : undefined;
    const { items, policyOf } = early?.planned ?? (await plan(envelope, pool, keep));
    // Live watchers see the message accepted before any of its items is scheduled.
    events.progress('accepted', envelope, envelope.rcpts, now);
    if (items.length > 0) {
      const trackIn = (writes: RedisBatch, item: QueueItem) =>
        parking.trackIn(
          writes,
          pool.key,
          itemKey(item),
          policyOf(item.delivery.domain).name,
          item.delivery.receivedAt,
        );
      // A message of several items keeps the set of its open groups, so that the result
      // finishing the last one removes the body; it is written before any job exists, or a
      // result that came back first would find its message closed. A message of one item
      // needs no set: finishing its only group finds none, which reads as "none left", the
      // answer the set would give. Its queued-index entry is written only if it waits
      // (below), so mail sent at once costs one call: the suppression lookup, the turn
      // check and the reservation together (lookFirst), nothing more.
      const several = items.length > 1;
      if (several) {
        const writes = new RedisBatch();
        tracker.openIn(
          writes,
          pool.key,
          envelope.id,
          items.map((item) => groupKey(item.delivery)),
          pool.retry.maxAgeMs + TRACKER_EXTRA_MS,
        );
        for (const item of items) trackIn(writes, item);
        await writes.run(parts.redis);
      }
      // As many looks at once as the queue stage would make for these items, at the time
      // they are made (the lookups above took a while): rate windows and turns are read
      // and written at it.
      const lookedAt = early?.lookedAt ?? clock.now();
      const looks: Looked[] = early ? [early.look] : [];
      for (let i = looks.length; i < items.length; i += parts.config.concurrency) {
        const slice = items.slice(i, i + parts.config.concurrency);
        looks.push(...(await Promise.all(slice.map((it) => sendsAtOnce(it, pool, lookedAt)))));
      }
      const decisions: (SendDecision | undefined)[] = [];
      for (const look of looks) {
        if (look.deferred) metrics.deferred.inc({ pool: pool.key, reason: look.deferred });
        decisions.push(look.decision);
      }
      const [only] = items;
      if (!several && only && !decisions[0]) {
        // Counted as waiting before its queue item exists, as the queue stage expects.
        const writes = new RedisBatch();
        trackIn(writes, only);
        await writes.run(parts.redis);
      }
      await Promise.all(
        items.map((item, i) => {
          const decision = decisions[i];
          return decision
            ? dispatch(parts, item, pool, decision, lookedAt)
            : publishItem(parts, item);
        }),
      );
    }
    if (out.length > 0) {
      for (const e of out) metrics.outcomes.inc({ pool: pool.key, type: e.type });
      await events.publish(out);
    }
    if (items.length === 0) {
      // Every recipient was suppressed: nothing will read the body again.
      await parts.bodies.remove(envelope.id, envelope.body).catch((err: unknown) => {
        parts.log.warn({ err, id: envelope.id }, 'could not remove body; max age will');
      });
    }
    return { kind: 'routed' };
  };
}

/** Ends an envelope's message as its routing says: acknowledged, or handed back for later. */
function settle(parts: SchedulerParts, msg: JsMsg, outcome: EnvelopeOutcome): void {
  if (outcome.kind === 'retry') msg.nak(nakDelay(parts, outcome.delayMs));
  else msg.ack();
}

export function createEnvelopeHandler(parts: SchedulerParts) {
  const route = createEnvelopeRouter(parts);
  return async function handleEnvelope(msg: JsMsg): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = codecs.envelope.decode(msg.data);
    } catch (err) {
      rejectMalformed(parts, msg, err);
      return;
    }
    settle(parts, msg, await route(envelope));
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
  const route = createEnvelopeRouter(parts);
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
    const outcome = await route({
      ...envelope,
      body: { store: 'stream', size: envelope.body.size, seq: msg.seq },
    });
    settle(parts, msg, outcome);
  };
}
