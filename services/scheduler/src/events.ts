import {
  codecs,
  type DeliveryEvent,
  type RecipientOutcome,
  SUBJECTS,
  traceDigest,
} from '@hikyaku/core';
import type { JetStreamClient } from '@nats-io/jetstream';

/**
 * Publishes delivery events, each twice: on its event subject for the relay's readers
 * (webhooks, audit), and under its queue id in the trace stream, where `hikyaku trace`
 * reads a message's timeline by subject. An `accepted` event also files index entries by
 * Message-ID (once per message) and by recipient. Awaited, so an outcome is acknowledged
 * only after its events.
 */
export function createEventPublisher(js: JetStreamClient) {
  return {
    async publish(events: DeliveryEvent[]): Promise<void> {
      const indexed = new Set<string>();
      const writes: Promise<unknown>[] = [];
      for (const event of events) {
        const data = codecs.event.encode(event);
        writes.push(js.publish(SUBJECTS.event(event.pool, event.type), data));
        writes.push(js.publish(SUBJECTS.traceMessage(event.id), data));
        if (event.type !== 'accepted') continue;
        const entry = codecs.traceIndex.encode({
          v: 1,
          id: event.id,
          pool: event.pool,
          at: event.at,
        });
        const keys: ['mid' | 'rcpt', string][] = [['rcpt', event.rcpt]];
        if (event.messageId) keys.push(['mid', event.messageId]);
        for (const [kind, value] of keys) {
          const subject = SUBJECTS.traceIndex(kind, traceDigest(kind, value));
          if (indexed.has(subject)) continue;
          indexed.add(subject);
          // The message id makes a redelivered envelope's entries count once.
          writes.push(js.publish(subject, entry, { msgID: `trace:${event.id}:${subject}` }));
        }
      }
      await Promise.all(writes);
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
  };
}
