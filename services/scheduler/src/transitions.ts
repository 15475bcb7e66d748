/**
 * The three moves of a delivery record through the scheduler, as plain functions: an
 * accepted envelope becomes deliveries (queue items), a due item becomes a job, and a
 * result's deferred recipients become the next attempt's item. The stages decide
 * (suppression, admission, the retry time) and do the I/O; these only build the records,
 * so every field a delivery carries is carried in one place.
 */
import {
  type Delivery,
  type Envelope,
  type Job,
  MSG_IDS,
  type QueueItem,
  type RecipientOutcome,
} from '@hikyaku/core';
import { dsnFor } from './dsn-params.ts';
import type { EventBase } from './events.ts';
import { lastReplyOf } from './replies.ts';
import { groupByDomain, splitRecipients } from './split.ts';

/**
 * The first queue items of an envelope: `rcpts` (the envelope's recipients that were not
 * suppressed) grouped by destination domain and cut into parts of at most
 * `recipientsPerMessage(domain)` recipients, each due when the message was received.
 */
export function firstItems(
  envelope: Envelope,
  rcpts: readonly string[],
  recipientsPerMessage: (domain: string) => number,
): QueueItem[] {
  const items: QueueItem[] = [];
  for (const [domain, group] of groupByDomain([...rcpts])) {
    const shares = splitRecipients(group, recipientsPerMessage(domain));
    shares.forEach((share, part) => {
      const delivery: Delivery = {
        id: envelope.id,
        pool: envelope.pool,
        domain,
        from: envelope.from,
        rcpts: share,
        body: envelope.body,
        receivedAt: envelope.receivedAt,
        ...(shares.length > 1 ? { part } : {}),
        ...(envelope.bulk ? { bulk: true } : {}),
        ...(envelope.messageId ? { messageId: envelope.messageId } : {}),
        ...(envelope.submitter ? { submitter: envelope.submitter } : {}),
        ...dsnFor(envelope, share),
      };
      items.push({ delivery, attempt: 0, notBefore: envelope.receivedAt });
    });
  }
  return items;
}

/** What admission decided for a due item: where it goes and on which terms. */
export interface Dispatch {
  ip: string;
  policy: string;
  /** Connections learned for (IP, destination), when fewer than the policy declares. */
  connections?: number;
  /** The pool's own MAIL FROM for this delivery (returnPathFor), if it writes one. */
  returnPath?: string;
}

/** The job that releases `item` now. */
export function jobFor(item: QueueItem, dispatch: Dispatch, now: number): Job {
  const { delivery, attempt } = item;
  return {
    jobId: MSG_IDS.job(delivery.id, delivery.domain, attempt, delivery.part ?? 0),
    delivery,
    attempt,
    ip: dispatch.ip,
    policy: dispatch.policy,
    dispatchedAt: now,
    ...(dispatch.connections !== undefined ? { connections: dispatch.connections } : {}),
    ...(dispatch.returnPath ? { returnPath: dispatch.returnPath } : {}),
  };
}

/**
 * The next attempt of a job's deferred recipients, due at `at`: the same delivery cut down
 * to them, with the replies they got (at `finishedAt`) and the IP that got them.
 */
export function retryItem(
  job: Job,
  deferred: readonly RecipientOutcome[],
  at: number,
  finishedAt: number,
): QueueItem {
  const rcpts = deferred.map((outcome) => outcome.rcpt);
  const { dsn: _dsn, rcptDsn: _rcptDsn, ...delivery } = job.delivery;
  return {
    delivery: { ...delivery, rcpts, ...dsnFor(job.delivery, rcpts) },
    attempt: job.attempt + 1,
    notBefore: at,
    lastIp: job.ip,
    lastReplies: deferred.map((outcome) => lastReplyOf(outcome, finishedAt)),
  };
}

/** What the events of an item or a job say of its message. */
export function eventBaseOf(record: QueueItem | Job): EventBase {
  const { delivery } = record;
  const base: EventBase = {
    id: delivery.id,
    pool: delivery.pool,
    domain: delivery.domain,
    receivedAt: delivery.receivedAt,
    attempt: record.attempt,
  };
  if ('ip' in record) base.ip = record.ip;
  if ('dispatchedAt' in record && record.dispatchedAt !== undefined) {
    base.dispatchedAt = record.dispatchedAt;
  }
  if (delivery.messageId) base.messageId = delivery.messageId;
  return base;
}

/** The de-duplication id of a queue item's publish: one per delivery and attempt. */
export function itemMsgId(item: QueueItem): string {
  const { delivery } = item;
  return MSG_IDS.queueItem(delivery.id, delivery.domain, item.attempt, delivery.part ?? 0);
}
