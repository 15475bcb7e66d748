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

/** Facts that precede an outcome: never stored (see createEventPublisher). */
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
 * or Message-ID. Acceptance and planning are not stored (the outcome event that follows
 * carries them: `delayMs` dates the acceptance, `plannedAt`, `ip` and `attempt` the
 * planning); with `progress` on they go to live watchers (SUBJECTS.progress), whether
 * they come through `progress` (which builds nothing when off) or `publish`.
 * Awaited, so an outcome is acknowledged only after its events are stored.
 */
export function createEventPublisher(
  js: JetStreamClient,
  nc: NatsConnection,
  options: { progress?: boolean } = {},
) {
  const progressOn = options.progress === true;
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
        if (UNSTORED.has(event.type)) {
          if (progressOn) {
            nc.publish(SUBJECTS.progress(event.pool, event.type), codecs.event.encode(event));
          }
          continue;
        }
        writes.push(
          js.publish(
            eventSubject(event),
            codecs.event.encode(event),
            msgIdOf ? { msgID: msgIdOf(event) } : undefined,
          ),
        );
      }
      const acks = await Promise.all(writes);
      return acks.length > 0 && acks.every((ack) => ack.duplicate);
    },
    /**
     * Sends an `accepted` or `scheduled` notice per recipient to live watchers, unstored and
     * unacknowledged. Off (the default, HIKYAKU_PROGRESS_EVENTS), nothing is built or sent:
     * in production nobody listens, and each notice costs an encode and a message that
     * nats-server parses.
     */
    progress(
      type: 'accepted' | 'scheduled',
      base: EventBase,
      rcpts: readonly string[],
      at: number,
    ): void {
      if (!progressOn) return;
      const subject = SUBJECTS.progress(base.pool, type);
      for (const rcpt of rcpts) {
        nc.publish(subject, codecs.event.encode(deliveryEvent(type, base, rcpt, at)));
      }
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
