/**
 * What the scheduler's three stages (envelopes, queue, results) share: the connections,
 * the shaping state and the helpers that publish. Built once by startScheduler.
 */

import type { SuppressionList } from '@hikyaku/core';
import {
  type BodyStore,
  codecs,
  type Logger,
  type NatsHandles,
  type PoolDirectory,
  type QueueItem,
  SUBJECTS,
} from '@hikyaku/core';
import type { Redis } from 'ioredis';
import type { Admission } from './admission.ts';
import type { BodyEnds } from './body-purge.ts';
import type { Clock } from './clock.ts';
import type { ComplaintHolds } from './complaint-holds.ts';
import type { SchedulerConfig } from './config.ts';
import type { DestinationHolds } from './destination-holds.ts';
import type { Destinations } from './destinations.ts';
import type { DsnMailer } from './dsn-mailer.ts';
import type { EventPublisher } from './events.ts';
import type { MessageSubmitters } from './message-submitters.ts';
import type { SchedulerMetrics } from './metrics.ts';
import type { Parking } from './parking.ts';
import type { VerdictCounter } from './reputation/verdicts.ts';
import type { ThrottleStore } from './throttles.ts';
import type { MessageTracker } from './tracker.ts';
import { itemMsgId } from './transitions.ts';

export interface SchedulerParts {
  config: SchedulerConfig;
  nats: NatsHandles;
  redis: Redis;
  pools: PoolDirectory;
  bodies: BodyStore;
  clock: Clock;
  rng: () => number;
  log: Logger;
  admission: Admission;
  destinations: Destinations;
  parking: Parking;
  throttles: ThrottleStore;
  suppressions: SuppressionList;
  dsn: DsnMailer;
  events: EventPublisher;
  tracker: MessageTracker;
  /** With HIKYAKU_BODY_REMOVAL=purge: where a body's end is recorded (body-purge.ts). */
  bodyEnds?: BodyEnds;
  metrics: SchedulerMetrics;
  /** Receivers' verdicts per IP, for the reputation guard. */
  verdicts?: VerdictCounter;
  holds: ComplaintHolds;
  /** The same guard per submitter (the username mail was handed in under). */
  submitterHolds: ComplaintHolds;
  messageSubmitters: MessageSubmitters;
  /** Destinations an admin holds (`hikyaku queue --hold`). */
  destinationHolds: DestinationHolds;
}

/** How long a message's last try (due at its maximum age) may wait for shaping. */
export const EXPIRY_GRACE_MS = 60_000;

/** Publishes a queue item; returns its sequence in the queue stream. */
export async function publishItem(parts: SchedulerParts, item: QueueItem): Promise<number> {
  const ack = await parts.nats.js.publish(
    SUBJECTS.queue(item.delivery.pool),
    codecs.queueItem.encode(item, parts.config.wireVersion),
    { msgID: itemMsgId(item) },
  );
  return ack.seq;
}

/**
 * A wait in clock time as a nak delay: real ms, at least 1. A wait longer than maxParkMs
 * is cut to a random share of it between a half and the whole, so items parked far ahead
 * look at their turn again now and then without all waking together.
 */
export function nakDelay(parts: SchedulerParts, ms: number): number {
  const real = Math.max(1, Math.ceil(parts.clock.realMs(ms)));
  const cap = parts.config.maxParkMs;
  return real <= cap ? real : Math.ceil(cap * (0.5 + 0.5 * parts.rng()));
}
