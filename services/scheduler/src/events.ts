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
  return subjectOf(event, midDigestOf(event.messageId));
}

function midDigestOf(messageId: string | undefined): string {
  return messageId ? traceDigest('mid', messageId) : NO_DIGEST;
}

function subjectOf(event: DeliveryEvent, midDigest: string): string {
  return SUBJECTS.deliveryEvent(
    event.pool,
    event.id,
    traceDigest('rcpt', event.rcpt),
    midDigest,
    event.type,
  );
}

/**
 * eventSubject for the events of one message, as a publish call carries them: the
 * Message-ID's digest is the same for all of them, so it is taken once, not per event.
 */
function subjectsOfOneMessage(): (event: DeliveryEvent) => string {
  let messageId: string | undefined;
  let midDigest = NO_DIGEST;
  return (event) => {
    if (event.messageId !== messageId) {
      messageId = event.messageId;
      midDigest = midDigestOf(messageId);
    }
    return subjectOf(event, midDigest);
  };
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
      if (events.length === 0) return false;
      const subjectOf = subjectsOfOneMessage();
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
            subjectOf(event),
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
     * nats-server parses. This is the one place the setting is checked: a caller passes
     * the base as a function when building it costs something, and it is then called only
     * when notices are on.
     */
    progress(
      type: 'accepted' | 'scheduled',
      base: EventBase | (() => EventBase),
      rcpts: readonly string[],
      at: number,
    ): void {
      if (!progressOn) return;
      const of = typeof base === 'function' ? base() : base;
      const subject = SUBJECTS.progress(of.pool, type);
      for (const rcpt of rcpts) {
        nc.publish(subject, codecs.event.encode(deliveryEvent(type, of, rcpt, at)));
      }
    },
    /**
     * Stores acceptance events, which publish does not: for recipients that wait before
     * their first attempt, whom no outcome event names yet, so `hikyaku trace` finds them.
     */
    async storeAcceptance(events: DeliveryEvent[]): Promise<void> {
      const subjectOf = subjectsOfOneMessage();
      await Promise.all(events.map((e) => js.publish(subjectOf(e), codecs.event.encode(e))));
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

/**
 * One event about one recipient of a message. Built field by field in the order its JSON
 * has always had (no spread of a temporary object per optional field): one is made per
 * recipient and outcome on the hot path.
 */
export function deliveryEvent(
  type: DeliveryEvent['type'],
  base: EventBase,
  rcpt: string,
  at: number,
  reply?: Pick<RecipientOutcome, 'code' | 'text' | 'enhanced' | 'remoteHost' | 'remoteAddress'>,
  tls?: string,
): DeliveryEvent {
  const event: DeliveryEvent = { v: 1, type, id: base.id, pool: base.pool, rcpt, at };
  if (base.ip) event.ip = base.ip;
  if (base.attempt !== undefined) event.attempt = base.attempt;
  if (reply) {
    const told: NonNullable<DeliveryEvent['reply']> = { code: reply.code, text: reply.text };
    if (reply.enhanced) told.enhanced = reply.enhanced;
    if (reply.remoteHost) told.remoteHost = reply.remoteHost;
    if (reply.remoteAddress) told.remoteAddress = reply.remoteAddress;
    event.reply = told;
  }
  if (base.messageId) event.messageId = base.messageId;
  if (base.domain) event.domain = base.domain;
  if (tls) event.tls = tls;
  if (base.receivedAt !== undefined) event.delayMs = Math.max(0, at - base.receivedAt);
  if (base.dispatchedAt !== undefined) event.plannedAt = base.dispatchedAt;
  return event;
}
