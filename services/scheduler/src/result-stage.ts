/**
 * Senders' results become events, retries and bounces. Every failed recipient is
 * classified (the bounce rules plus the rate policy's throttle patterns): a bounce is
 * final and, when the address is dead, suppressed; anything else is retried on the pool's
 * schedule until its maximum age, then expires with 4.4.7. A "slow down" from the
 * receiver teaches the (IP, site) pair its limit, for every replica (throttles.ts). Recipients that failed for good
 * are reported to the envelope sender in one DSN per result when the pool asks for it,
 * unless their NOTIFY says otherwise; recipients that asked NOTIFY=SUCCESS and went to a
 * next hop without DSN get a "relayed" report (RFC 3461 §6.2.1).
 *
 * One processor records a result, whichever way it came: handed off by its sender (a
 * request, answered once it is recorded; result-handoff.ts serves them) or pulled from
 * HIKYAKU_RESULTS (acknowledged once it is recorded). The two adapters only decode,
 * answer or acknowledge.
 */

import {
  answerRecordedHandoff,
  type CompiledPool,
  codecs,
  type DeliveryEvent,
  HikyakuError,
  handoffReplies,
  type Job,
  type JobResult,
  MSG_IDS,
  outcomeField,
  type QueueItem,
  REDIS_KEYS,
  SchemaError,
  senderDomain,
  WireVersionError,
} from '@hikyaku/core';
import {
  type BounceClassifier,
  calendarDayKey,
  createBounceClassifier,
  type DsnRecipient,
  EXPIRED_STATUS,
  type ResolvedRatePolicy,
  type ThrottleReason,
} from '@hikyaku/core/policy';
import type { JsMsg } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/transport-node';
import { itemKey } from './admission.ts';
import { endBodyIn, removeKeptCopy } from './body-purge.ts';
import { rateWindowMs } from './config.ts';
import { siteOf } from './destinations.ts';
import { reportable } from './dsn-params.ts';
import { rejectMalformed } from './envelope-stage.ts';
import { SchedulerError } from './errors.ts';
import { deliveryEvent } from './events.ts';
import { judgeOutcomes } from './outcomes.ts';
import { publishItem, type SchedulerParts } from './parts.ts';
import { type BatchRun, RedisBatch } from './redis-batch.ts';
import {
  diagnosticOf,
  expiredRecipient,
  expiryText,
  lastReplyOf,
  relayedRecipient,
} from './replies.ts';
import { planRetry } from './retry-plan.ts';
import { recordRetryWait } from './retry-waits.ts';
import { groupKey } from './split.ts';
import { eventBaseOf, retryItem } from './transitions.ts';

const DAY_COUNTER_TTL_S = 8 * 86_400;
/** As long as the events stream's duplicate window: a later repeat stores its events again too. */
const COUNTED_GUARD_MS = 120_000;

/** What a result leaves behind is built here; where it came from is its adapters' business. */
export function createResultProcessor(parts: SchedulerParts) {
  const { pools, destinations, metrics, events, clock, redis, log } = parts;
  const classifiers = new WeakMap<ResolvedRatePolicy, BounceClassifier>();
  const plainClassifier = createBounceClassifier();

  function classifierOf(policy: ResolvedRatePolicy | undefined): BounceClassifier {
    if (!policy) return plainClassifier;
    let classify = classifiers.get(policy);
    if (!classify) {
      classify = createBounceClassifier({ throttlePatterns: policy.onThrottle.patterns });
      classifiers.set(policy, classify);
    }
    return classify;
  }

  /** Per-day delivered/attempted counts per IP: the warm-up's delivered ratio. */
  function countOutcomes(
    writes: RedisBatch,
    pool: CompiledPool,
    job: Job,
    delivered: number,
    attempted: number,
  ) {
    const key = REDIS_KEYS.outcomesOnDay(pool.key, calendarDayKey(clock.now(), pool.timeZone));
    writes
      .count(key, outcomeField(job.ip, 'delivered'), delivered, DAY_COUNTER_TTL_S)
      .count(key, outcomeField(job.ip, 'attempted'), attempted, DAY_COUNTER_TTL_S);
  }

  async function signalThrottle(
    pool: CompiledPool,
    policy: ResolvedRatePolicy,
    job: Job,
    reason: ThrottleReason,
    now: number,
  ): Promise<void> {
    const { delivery } = job;
    const { state, changed } = await parts.throttles.signal(
      pool.key,
      job.ip,
      siteOf(policy.name, delivery.domain),
      policy.onThrottle,
      {
        now,
        reason,
        declared: policy.perIp.messagesPerMinute,
        declaredConnections: policy.perIp.connections,
        windowMs: rateWindowMs(parts.config),
        ...(job.dispatchedAt !== undefined ? { dispatchedAt: job.dispatchedAt } : {}),
      },
    );
    if (changed) {
      log.info(
        { pool: pool.key, ip: job.ip, policy: policy.name, domain: delivery.domain, state },
        'destination asked to slow down',
      );
    }
  }

  /**
   * Records a result: its events, suppressions, retry item, DSNs, counters and the end of
   * its destination group, the body removed when that was the message's last. Resolves
   * once every output is stored, and not before: its adapters answer or acknowledge then.
   * The body's removal is no stored output (one that fails or never happens leaves the
   * body to the stream's maximum age): it is requested by then, and `removed` says when it
   * ended, so that an adapter's answer leaves in the same turn as the request.
   *
   * The outputs are issued together and awaited together (their writes leave in one turn),
   * except where an order matters:
   * - the throttle signal, then the parking count, then the retry item: the retry must meet
   *   the learned limit, and the item is counted as waiting before it exists;
   * - the retry item before the Redis batch, which indexes the item's stream sequence;
   * - the body's removal last, once everything else is stored: the DSNs read the body, the
   *   batch says whether this was the message's last open group, and a recording that
   *   failed before the end is made again (stream copy) with the body still there.
   * The events need no place in that order: no other output depends on them, a trace
   * orders them by their times, and a recording made again stores what is missing.
   *
   * Recording the same result again stores nothing twice: the retry item, the DSNs and the
   * events carry JetStream message ids derived from the job; a suppression, a throttle
   * signal of an episode already recorded or a group's end written again changes nothing;
   * the counters run in the batch behind a per-job key (`countOnce`), and the metrics are
   * skipped when that key was there already (`repeat`).
   */
  return async function processResult(
    result: JobResult,
    path: ResultPath,
  ): Promise<RecordedResult> {
    const { job } = result;
    const { delivery } = job;
    const base = eventBaseOf(job);
    const now = clock.now();
    const pool = pools.get(delivery.pool);
    const policy = pool ? destinations.policy(pool, job.policy) : undefined;
    const judgement = judgeOutcomes(result.outcomes, classifierOf(policy));
    const out: DeliveryEvent[] = [];
    const failed: DsnRecipient[] = [];
    const tls = result.tls?.version;
    /** Counted only when this result was not recorded before. */
    const counted: Array<() => void> = [];
    /** Outputs with no order among them, awaited together. */
    const stored: Promise<unknown>[] = [];

    for (const outcome of judgement.delivered) {
      out.push(deliveryEvent('delivered', base, outcome.rcpt, now, outcome, tls));
    }
    for (const { outcome, classification } of judgement.bounced) {
      out.push(deliveryEvent('bounced', base, outcome.rcpt, now, outcome, tls));
      failed.push({
        recipient: outcome.rcpt,
        action: 'failed',
        status: outcome.enhanced?.startsWith('5.') ? outcome.enhanced : '5.0.0',
        ...(outcome.remoteHost ? { remoteMta: outcome.remoteHost } : {}),
        diagnostic: diagnosticOf(outcome),
        lastAttemptAt: result.finishedAt,
      });
      if (classification.suppress && pool?.bounces.suppressHardBounces) {
        stored.push(
          parts.suppressions.add(pool.key, outcome.rcpt, {
            reason: 'hard-bounce',
            at: now,
            reply: {
              code: outcome.code,
              text: outcome.text,
              ...(outcome.enhanced ? { enhanced: outcome.enhanced } : {}),
            },
            source: 'scheduler',
          }),
        );
        counted.push(() => metrics.suppressionsAdded.inc({ pool: pool.key }));
      }
    }
    for (const { outcome } of judgement.deferred) {
      out.push(deliveryEvent('deferred', base, outcome.rcpt, now, outcome, tls));
    }
    const { signal } = judgement;
    const signalled =
      signal && pool && policy ? signalThrottle(pool, policy, job, signal, now) : undefined;
    if (signal && pool && policy) {
      counted.push(() =>
        metrics.throttleSignals.inc({
          pool: pool.key,
          ip: job.ip,
          policy: policy.name,
          reason: signal,
        }),
      );
    }
    if (pool && job.returnPath && delivery.submitter && judgement.delivered.length > 0) {
      stored.push(parts.messageSubmitters.remember(pool, delivery.id, delivery.submitter));
    }

    let retry: QueueItem | undefined;
    if (judgement.deferred.length > 0) {
      const plan = planRetry({ job, pool, now, rng: parts.rng });
      if (plan.kind === 'retry') {
        retry = retryItem(
          job,
          judgement.deferred.map((d) => d.outcome),
          plan.at,
          result.finishedAt,
        );
      } else {
        for (const { outcome } of judgement.deferred) {
          const last = lastReplyOf(outcome, result.finishedAt);
          out.push(
            deliveryEvent(
              'expired',
              base,
              outcome.rcpt,
              now,
              {
                ...outcome,
                code: 550,
                enhanced: EXPIRED_STATUS,
                text: expiryText(job.attempt + 1, '', outcome),
              },
              tls,
            ),
          );
          failed.push(expiredRecipient(outcome.rcpt, last));
        }
      }
    }
    // Without a retry the destination group ends here.
    const groupOpen = retry !== undefined;

    if (failed.length > 0 && pool?.bounces.notifySender) {
      stored.push(
        parts.dsn.send(delivery, failed, `${job.jobId}:failed`, now).then((dsn) => {
          counted.push(() => metrics.dsns.inc({ pool: pool.key, result: dsn }));
        }),
      );
    }
    const wantsSuccess = delivery.rcptDsn?.some((r) => r.notify?.includes('SUCCESS')) === true;
    if (wantsSuccess && pool?.bounces.notifySender) {
      // A next hop that advertised DSN was given the parameters and reports success itself.
      const relayed = reportable(
        delivery,
        judgement.delivered
          .filter((outcome) => outcome.remoteDsn !== true)
          .map((outcome) => relayedRecipient(outcome, result.finishedAt)),
      );
      if (relayed.length > 0) {
        stored.push(
          parts.dsn.send(delivery, relayed, `${job.jobId}:relayed`, now).then((dsn) => {
            counted.push(() => metrics.dsns.inc({ pool: pool.key, result: dsn }));
          }),
        );
      }
    }
    const eventsRepeat = events.publish(out, (e) =>
      MSG_IDS.outcomeEvent(job.jobId, e.type, e.rcpt),
    );

    const bodySeq = delivery.body.store === 'stream' ? (delivery.body.seq ?? 0) : 0;
    // A DSN reads the body: its end then waits until the DSN is stored, as a removal does.
    const sendsDsn = pool?.bounces.notifySender === true && (failed.length > 0 || wantsSuccess);
    const endsInBatch = parts.bodyEnds !== undefined && bodySeq > 0 && !sendsDsn;

    /** The ordered chain: throttle signal, retry item, then the batch that indexes it. */
    async function recordInRedis(): Promise<BatchRun> {
      // The counters, the retry index and the tracker: one round trip.
      const writes = new RedisBatch();
      await signalled;
      if (retry) {
        if (pool && policy) {
          await parts.parking.track(pool.key, itemKey(retry), policy.name, delivery.receivedAt);
        }
        // A repeat gets the first copy's sequence back (the item's message id).
        const seq = await publishItem(parts, retry);
        if (pool) recordRetryWait(writes, retry, seq, now, pool.retry.maxAgeMs);
      } else {
        parts.tracker.finishIn(writes, delivery.pool, delivery.id, groupKey(delivery));
        // Purged bodies: the end is recorded in this batch, not asked for after it.
        if (endsInBatch) endBodyIn(writes, delivery.id, bodySeq);
      }
      if (pool) {
        writes.countOnce(REDIS_KEYS.resultCounted(pool.key, job.jobId), COUNTED_GUARD_MS);
        countOutcomes(writes, pool, job, judgement.delivered.length, result.outcomes.length);
        parts.verdicts?.record(writes, pool, job.ip, judgement, now);
        // The complaint guard's denominator, per sender domain and per submitter.
        const { submitter } = delivery;
        parts.holds.deliveredIn(
          writes,
          pool,
          senderDomain(delivery.from),
          judgement.delivered.length,
          now,
        );
        if (submitter) {
          parts.submitterHolds.deliveredIn(
            writes,
            pool,
            submitter,
            judgement.delivered.length,
            now,
          );
        }
      }
      return writes.runCounted(redis);
    }

    const [batch, storedBefore] = await Promise.all([
      recordInRedis(),
      eventsRepeat,
      Promise.all(stored),
    ]);
    // Without the pool there are no counters to guard: the events tell a repeat then.
    const repeat = pool ? !batch.counted : storedBefore;
    if (!repeat) {
      for (const count of counted) count();
      for (const e of out) metrics.outcomes.inc({ pool: delivery.pool, type: e.type });
    }
    metrics.resultsRecorded.inc({ pool: delivery.pool, path, repeat: String(repeat) });
    let removed = Promise.resolve();
    if (endsInBatch) {
      // Ended in the batch; a copy kept out of the bodies stream goes now.
      if (batch.keptCopy > 0) {
        removed = removeKeptCopy(parts.nats.jsm, batch.keptCopy).catch((err: unknown) => {
          log.warn({ err, id: delivery.id }, 'could not remove a kept body; max age will');
        });
      }
    } else if (!groupOpen && batch.left === 0) {
      removed = parts.bodies.remove(delivery.id, delivery.body).catch((err: unknown) => {
        // A repeat most likely finds it removed by the first recording.
        log[repeat ? 'debug' : 'warn'](
          { err, id: delivery.id },
          'could not remove body; max age will',
        );
      });
    }
    return { repeat, removed };
  };
}

/** A recorded result: whether it was recorded before, and when its body's removal ended. */
export interface RecordedResult {
  repeat: boolean;
  /** Resolves when the removal of the message's body, if this result asked for it, ended. */
  removed: Promise<void>;
}

/** Where a result came from: handed off by its sender, or pulled from HIKYAKU_RESULTS. */
export type ResultPath = 'handoff' | 'stream';

export type ProcessResult = ReturnType<typeof createResultProcessor>;

/** Results stored in HIKYAKU_RESULTS (senders without a scheduler answering their hand-off). */
export function createResultHandler(parts: SchedulerParts, processResult: ProcessResult) {
  return async function handleResult(msg: JsMsg): Promise<void> {
    let result: JobResult;
    try {
      result = codecs.result.decode(msg.data);
    } catch (err) {
      rejectMalformed(parts, msg, err);
      return;
    }
    const { removed } = await processResult(result, 'stream');
    msg.ack();
    // The ack leaves with the body's removal; the next result waits for the removal.
    await removed;
  };
}

/**
 * Results handed off by their senders (core NATS requests): the reply is OK only once the
 * result is recorded. A result that cannot be read or recorded gets an error reply with
 * its code, and its sender stores it in HIKYAKU_RESULTS, where the stream's handler makes
 * the same decision as for any stored result (dropped when malformed, handed back when of
 * a newer wire version, retried when recording failed): nothing is dropped here.
 */
export function createHandoffHandler(parts: SchedulerParts, processResult: ProcessResult) {
  return async function handleHandoff(msg: Msg): Promise<void> {
    let recorded: RecordedResult;
    try {
      recorded = await processResult(codecs.result.decode(msg.data), 'handoff');
    } catch (err) {
      const known =
        err instanceof HikyakuError
          ? err
          : new SchedulerError('HIKYAKU_RESULT_NOT_RECORDED', String(err), { cause: err });
      if (!(err instanceof SchemaError || err instanceof WireVersionError)) {
        parts.log.warn(
          { err, code: known.code },
          'could not record a handed-off result; its sender stores it',
        );
      }
      msg.respond(handoffReplies.error(known.code, known.message));
      return;
    }
    answerRecordedHandoff(parts.nats.nc, msg);
    // The answer leaves with the body's removal request; the hand-off's slot is held until
    // the removal ended.
    await recorded.removed;
  };
}
