import {
  codecs,
  type DeliveryEvent,
  NO_DIGEST,
  type RecipientOutcome,
  SUBJECTS,
  traceDigest,
} from '@hikyaku/core';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Facts that precede an outcome. They are not stored: the outcome event that follows
 * carries them (`delayMs` dates the acceptance, `plannedAt`, `ip` and `attempt` the
 * planning), so a message on the hot path costs one stored event per attempt outcome.
 */
const UNSTORED = new Set<DeliveryEvent['type']>(['accepted', 'scheduled']);

/** The stored subject of an event: its pool, queue id, recipient and Message-ID digests, type. */
export function eventSubject(event: DeliveryEvent): string {
  return SUBJECTS.deliveryEvent(
    event.pool,
    event.id,
    traceDigest('rcpt', event.rcpt),
    event.messageId ? traceDigest('mid', event.messageId) : NO_DIGEST,
    event.type,
  );
}

/**
 * Publishes delivery events. An outcome is stored once in the events stream, under a
 * subject that webhooks filter by pool and type and `hikyaku trace` by queue id, recipient
 * or Message-ID. Acceptance and planning only go to live watchers (SUBJECTS.progress).
 * Awaited, so an outcome is acknowledged only after its events are stored.
 */
export function createEventPublisher(js: JetStreamClient, nc: NatsConnection) {
  return {
    /**
     * With `msgIdOf`, JetStream stores each event once per id within the stream's duplicate
     * window. Resolves true when events were stored and every one of them had been stored
     * before: the same outputs published a second time (a result recorded twice).
     */
    async publish(
      events: DeliveryEvent[],
      msgIdOf?: (event: DeliveryEvent) => string,
    ): Promise<boolean> {
      const writes: Promise<PubAck>[] = [];
      for (const event of events) {
        const data = codecs.event.encode(event);
        if (UNSTORED.has(event.type)) nc.publish(SUBJECTS.progress(event.pool, event.type), data);
        else {
          writes.push(
            js.publish(eventSubject(event), data, msgIdOf ? { msgID: msgIdOf(event) } : undefined),
          );
        }
      }
      const acks = await Promise.all(writes);
      return acks.length > 0 && acks.every((ack) => ack.duplicate);
    },
    /**
     * Stores acceptance events, which publish does not: for recipients that wait before
     * their first attempt, whom no outcome event names yet, so `hikyaku trace` finds them.
     */
    async storeAcceptance(events: DeliveryEvent[]): Promise<void> {
      await Promise.all(events.map((e) => js.publish(eventSubject(e), codecs.event.encode(e))));
    },
  };
}

export type EventPublisher = ReturnType<typeof createEventPublisher>;

/** What an event says of its message, taken from an envelope, queue item or job. */
export interface EventBase {
  id: string;
  pool: string;
  attempt?: number;
  ip?: string;
  messageId?: string;
  domain?: string;
  receivedAt?: number;
  /** A job's: when the scheduler handed it to its sender. */
  dispatchedAt?: number;
}

/** One event about one recipient of a message. */
export function deliveryEvent(
  type: DeliveryEvent['type'],
  base: EventBase,
  rcpt: string,
  at: number,
  reply?: Pick<RecipientOutcome, 'code' | 'text' | 'enhanced' | 'remoteHost' | 'remoteAddress'>,
  tls?: string,
): DeliveryEvent {
  return {
    v: 1,
    type,
    id: base.id,
    pool: base.pool,
    rcpt,
    at,
    ...(base.ip ? { ip: base.ip } : {}),
    ...(base.attempt !== undefined ? { attempt: base.attempt } : {}),
    ...(reply
      ? {
          reply: {
            code: reply.code,
            text: reply.text,
            ...(reply.enhanced ? { enhanced: reply.enhanced } : {}),
            ...(reply.remoteHost ? { remoteHost: reply.remoteHost } : {}),
            ...(reply.remoteAddress ? { remoteAddress: reply.remoteAddress } : {}),
          },
        }
      : {}),
    ...(base.messageId ? { messageId: base.messageId } : {}),
    ...(base.domain ? { domain: base.domain } : {}),
    ...(tls ? { tls } : {}),
    ...(base.receivedAt !== undefined ? { delayMs: Math.max(0, at - base.receivedAt) } : {}),
    ...(base.dispatchedAt !== undefined ? { plannedAt: base.dispatchedAt } : {}),
  };
}
