import type { JetStreamClient } from '@nats-io/jetstream';
import { codecs, type DeliveryEvent, SUBJECTS } from '../../core/src/index.ts';

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
