/**
 * Releasing a delivery item to its sender, and what may hold it back first. Shared by the
 * envelope stage (a new item due at once leaves from there, without a queue item) and the
 * queue stage (items that waited), so an item meets the same checks whichever stage looks
 * at it.
 */

import {
  type CompiledPool,
  codecs,
  type QueueItem,
  returnPathFor,
  SUBJECTS,
  senderDomain,
} from '@hikyaku/core';
import type { AdmissionDecision } from './admission.ts';
import type { SchedulerParts } from './parts.ts';
import { eventBaseOf, jobFor } from './transitions.ts';

export type SendDecision = Extract<AdmissionDecision, { kind: 'send' }>;

/** What holds an item back before admission is asked, and how that is told. */
export interface Hold {
  /** `hikyaku_scheduler_deferrals_total`'s reason. */
  reason: 'complaint-hold' | 'submitter-complaint-hold' | 'held';
  /** Ends the expiry text: "expired <while …>". */
  why: string;
}

/**
 * Whether the item is held: bulk mail of a pool with feedback while its sender domain or
 * its submitter is held for complaints, or any mail for a destination an admin holds.
 */
export async function holdOf(
  parts: SchedulerParts,
  item: QueueItem,
  pool: CompiledPool,
): Promise<Hold | undefined> {
  const { from, submitter, bulk, domain } = item.delivery;
  if (bulk && pool.feedback) {
    if (await parts.holds.isHeld(pool.key, senderDomain(from))) {
      return {
        reason: 'complaint-hold',
        why: 'while its sender domain was held for complaints',
      };
    }
    if (submitter && (await parts.submitterHolds.isHeld(pool.key, submitter))) {
      return {
        reason: 'submitter-complaint-hold',
        why: 'while its submitter was held for complaints',
      };
    }
  }
  if (await parts.destinationHolds.isHeld(pool.key, domain)) {
    return { reason: 'held', why: 'while its destination was held' };
  }
  return undefined;
}

/**
 * Publishes the job that releases `item` from the IP admission chose, with its counts and
 * (when turned on) its `scheduled` progress notices. The job's id (one per delivery, part
 * and attempt) is its JetStream message id, so a second dispatch of the same item within
 * the duplicate window (a redelivered envelope or queue item after a crash) is stored once.
 */
export async function dispatch(
  parts: SchedulerParts,
  item: QueueItem,
  pool: CompiledPool,
  decision: SendDecision,
  now: number,
): Promise<void> {
  const { metrics } = parts;
  const returnPath = returnPathFor(pool, item.delivery);
  const job = jobFor(
    item,
    {
      ip: decision.ip,
      policy: decision.policy,
      ...(decision.connections !== undefined ? { connections: decision.connections } : {}),
      ...(returnPath ? { returnPath } : {}),
    },
    now,
  );
  await parts.nats.js.publish(
    SUBJECTS.job(pool.key, decision.ip),
    codecs.job.encode(job, parts.config.wireVersion),
    { msgID: job.jobId },
  );
  metrics.scheduled.inc({ pool: pool.key, ip: decision.ip, policy: decision.policy });
  if (decision.spilledFrom !== undefined) {
    metrics.spilled.inc({ pool: pool.key, ip: decision.spilledFrom });
  }
  parts.events.progress('scheduled', () => eventBaseOf(job), job.delivery.rcpts, now);
}
