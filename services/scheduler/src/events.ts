import { codecs, type DeliveryEvent, type RecipientOutcome, SUBJECTS } from '@hikyaku/core';
import type { JetStreamClient } from '@nats-io/jetstream';

/** Publishes delivery events; awaited, so an outcome is acknowledged only after its event. */
export function createEventPublisher(js: JetStreamClient) {
  return {
    async publish(events: DeliveryEvent[]): Promise<void> {
      await Promise.all(
        events.map((event) =>
          js.publish(SUBJECTS.event(event.pool, event.type), codecs.event.encode(event)),
        ),
      );
    },
  };
}

export type EventPublisher = ReturnType<typeof createEventPublisher>;

/** One event about one recipient of a message. */
export function deliveryEvent(
  type: DeliveryEvent['type'],
  base: { id: string; pool: string; attempt?: number; ip?: string },
  rcpt: string,
  at: number,
  reply?: Pick<RecipientOutcome, 'code' | 'text' | 'enhanced' | 'remoteHost'>,
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
          },
        }
      : {}),
  };
}
