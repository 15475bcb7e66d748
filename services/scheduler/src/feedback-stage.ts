/**
 * Feedback the ingress took at a pool's bounce and complaint addresses becomes what a
 * synchronous outcome would have: a late hard bounce suppresses its recipient (when the
 * pool suppresses hard bounces) and is a `bounced` event with `late: true`; a complaint
 * suppresses its recipient (reason `complaint`), is a `complained` event, counts against
 * the IP that sent the message and the complaint rates of its sender domain and of its
 * submitter, and may hold that domain's or that submitter's bulk mail. Only reports whose return path token verifies do anything; every
 * message is counted by what it was, and its body is removed once it has been read.
 */

import {
  attributeFeedback,
  BodyMissingError,
  type CompiledPool,
  codecs,
  type DeliveryEvent,
  type FeedbackEnvelope,
  type FeedbackVerdict,
  parseFeedback,
} from '@hikyaku/core';
import { createBounceClassifier } from '@hikyaku/core/policy';
import type { JsMsg } from '@nats-io/jetstream';
import type { ComplaintWindow } from './complaint-holds.ts';
import { COMPLAINT_LEVELS } from './complaint-review.ts';
import { rejectMalformed } from './envelope-stage.ts';
import { deliveryEvent } from './events.ts';
import { nakDelay, type SchedulerParts } from './parts.ts';

const UNKNOWN_POOL_DELAY_MS = 5000;

export function createFeedbackHandler(parts: SchedulerParts) {
  const { pools, metrics, events, clock, log, suppressions, holds } = parts;
  const { submitterHolds, messageSubmitters } = parts;
  const classify = createBounceClassifier();

  async function complaint(
    pool: CompiledPool,
    verdict: Extract<FeedbackVerdict, { kind: 'complaint' }>,
    now: number,
  ): Promise<void> {
    await suppressions.add(pool.key, verdict.rcpt, {
      reason: 'complaint',
      at: now,
      source: 'feedback',
    });
    metrics.suppressionsAdded.inc({ pool: pool.key });
    const ours = pool.ips.some((ip) => ip.address === verdict.sourceIp);
    metrics.complaints.inc({ pool: pool.key, ip: ours ? (verdict.sourceIp as string) : 'other' });
    if (verdict.senderDomain) {
      const window = await holds.complained(pool, verdict.senderDomain, now);
      if (window) {
        const labels = { pool: pool.key, sender_domain: window.domain };
        metrics.complaintRate.set(labels, window.rate);
        metrics.complaintLevel.set(labels, COMPLAINT_LEVELS[window.level]);
        tell(window, { pool: pool.key, senderDomain: window.domain }, 'domain');
      }
    }
    const submitter = await messageSubmitters.of(pool.key, verdict.id);
    if (submitter) {
      const window = await submitterHolds.complained(pool, submitter, now);
      if (window) {
        const labels = { pool: pool.key, submitter };
        metrics.submitterComplaintRate.set(labels, window.rate);
        metrics.submitterComplaintLevel.set(labels, COMPLAINT_LEVELS[window.level]);
        tell(window, { pool: pool.key, submitter }, 'submitter');
      }
    }
  }

  function tell(window: ComplaintWindow, who: Record<string, string>, what: string): void {
    const fields = {
      ...who,
      rate: window.rate,
      delivered: window.delivered,
      complaints: window.complaints,
    };
    if (window.heldNow) {
      log.error(fields, `complaint rate over the stop line: holding the ${what}'s bulk mail`);
    } else if (window.level !== 'ok') {
      log.warn(fields, `complaint rate over the ${window.level} line`);
    }
  }

  async function act(
    envelope: FeedbackEnvelope,
    pool: CompiledPool,
    verdict: FeedbackVerdict,
    now: number,
  ): Promise<DeliveryEvent[]> {
    switch (verdict.kind) {
      case 'bounce': {
        if (verdict.suppress && pool.bounces.suppressHardBounces) {
          await suppressions.add(pool.key, verdict.rcpt, {
            reason: 'hard-bounce',
            at: now,
            reply: {
              code: verdict.reply.code,
              text: verdict.reply.text,
              ...(verdict.reply.enhanced ? { enhanced: verdict.reply.enhanced } : {}),
            },
            source: 'feedback',
          });
          metrics.suppressionsAdded.inc({ pool: pool.key });
        }
        const message = { id: verdict.id, pool: pool.key };
        const event = deliveryEvent('bounced', message, verdict.rcpt, now, verdict.reply);
        return [{ ...event, late: true }];
      }
      case 'complaint': {
        await complaint(pool, verdict, now);
        const message = { id: verdict.id, pool: pool.key };
        const event = deliveryEvent('complained', message, verdict.rcpt, now);
        return [
          {
            ...event,
            complaint: {
              feedbackType: verdict.feedbackType,
              ...(verdict.sourceIp ? { sourceIp: verdict.sourceIp } : {}),
            },
          },
        ];
      }
      case 'forged':
        log.warn(
          { pool: pool.key, id: envelope.id, to: envelope.to, client: envelope.clientAddress },
          'feedback with a return path token that does not verify; dropped',
        );
        return [];
      default:
        return [];
    }
  }

  /** A report that cannot even be parsed is counted as `other`, not retried for ever. */
  async function readReport(envelope: FeedbackEnvelope, raw: Uint8Array) {
    try {
      return await parseFeedback(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
    } catch (err) {
      log.warn({ err, id: envelope.id, pool: envelope.pool }, 'feedback not parseable; dropped');
      return undefined;
    }
  }

  return async function handleFeedback(msg: JsMsg): Promise<void> {
    let envelope: FeedbackEnvelope;
    try {
      envelope = codecs.feedback.decode(msg.data);
    } catch (err) {
      rejectMalformed(parts, msg, err);
      return;
    }
    const pool = pools.get(envelope.pool);
    if (!pool) {
      metrics.deferred.inc({ pool: envelope.pool, reason: 'unknown-pool' });
      msg.nak(nakDelay(parts, UNKNOWN_POOL_DELAY_MS));
      return;
    }
    const now = clock.now();
    let verdict: FeedbackVerdict = { kind: 'other' };
    if (pool.feedback) {
      let raw: Uint8Array | undefined;
      try {
        raw = await parts.bodies.get(envelope.id, envelope.body);
      } catch (err) {
        if (!(err instanceof BodyMissingError)) throw err;
        log.warn({ err, id: envelope.id, pool: pool.key }, 'feedback body missing; dropped');
      }
      const report = raw ? await readReport(envelope, raw) : undefined;
      if (report) {
        verdict = attributeFeedback({
          report,
          sentTo: envelope.to,
          key: Buffer.from(pool.feedback.signingKey, 'base64'),
          pool: pool.key,
          classify,
        });
      }
    }
    const out = await act(envelope, pool, verdict, now);
    metrics.feedback.inc({ pool: pool.key, verdict: verdict.kind });
    for (const e of out) metrics.outcomes.inc({ pool: pool.key, type: e.type });
    await events.publish(out);
    await parts.bodies.remove(envelope.id, envelope.body).catch((err: unknown) => {
      log.warn({ err, id: envelope.id }, 'could not remove feedback body; max age will');
    });
    msg.ack();
  };
}
