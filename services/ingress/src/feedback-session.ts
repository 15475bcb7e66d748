/**
 * The two steps of an SMTP transaction that differ for a report to a feedback address
 * (feedback-intake.ts): RCPT TO, where a feedback address is taken from any client, alone
 * and within the client's rate; and DATA, where the report is stored whole, within the
 * pool's report size, for the scheduler to read.
 */

import type { CompiledPool } from '@hikyaku/core';
import { nuid } from '@nats-io/transport-node';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { ListenerName } from './config.ts';
import { type FeedbackTarget, feedbackTarget } from './feedback-intake.ts';
import { readMessage } from './message-reader.ts';
import type { IngressContext } from './session-handlers.ts';
import type { RefusalReason, SmtpReplyError } from './smtp-errors.ts';

export interface FeedbackStepsDeps {
  ctx: IngressContext;
  listener: ListenerName;
  refuse: (reason: RefusalReason, pool?: CompiledPool, detail?: string) => SmtpReplyError;
  /** A Redis lookup that is skipped (answering `fallback`) when Redis does not answer. */
  lookup: <T>(check: 'suppression' | 'quota', run: () => Promise<T>, fallback: T) => Promise<T>;
}

export function feedbackSteps(deps: FeedbackStepsDeps) {
  const { ctx, listener, refuse, lookup } = deps;

  return {
    /**
     * RCPT TO in a transaction that is, or may become, a report. Undefined: not a feedback
     * matter, the relay's rules apply; otherwise the answer (no error: accepted).
     */
    async recipient(
      tx: { feedback?: FeedbackTarget },
      address: { address: string },
      session: SMTPServerSession,
    ): Promise<{ error?: SmtpReplyError } | undefined> {
      const target = feedbackTarget(ctx.pools.all(), address.address);
      // A report goes alone: the client sends any other recipient in a transaction of its own.
      if (tx.feedback || (target && session.envelope.rcptTo.length > 0)) {
        return { error: refuse('tooManyRecipients', tx.feedback?.pool ?? target?.pool) };
      }
      if (!target) return undefined;
      const allowed = await lookup(
        'quota',
        () => ctx.feedback.take(target.pool, session.remoteAddress, ctx.now()),
        true,
      );
      if (!allowed) return { error: refuse('rateLimited', target.pool) };
      tx.feedback = target;
      address.address = target.address;
      return {};
    },

    /** DATA of a report: stored whole (body, then feedback envelope) before the 250. */
    async data(
      stream: SMTPServerDataStream,
      session: SMTPServerSession,
      target: FeedbackTarget,
    ): Promise<{ error?: SmtpReplyError; reply?: string } | undefined> {
      const { pool } = target;
      // Reports count against the in-flight bound like any message; their lines are not
      // relayed, so long ones are read as they come.
      const reservation = ctx.inflight.reserve();
      try {
        const outcome = await readMessage(stream, {
          maxBytes: pool.feedback?.maxReportSize ?? 0,
          lineEnds: ctx.config.bareLineEnds,
          longLines: 'accept',
          reservation,
        });
        if (outcome.kind === 'aborted') return undefined;
        if (outcome.kind === 'refused') return { error: refuse(outcome.violation, pool) };
        if (outcome.kind === 'tooBig') return { error: refuse('messageTooBig', pool) };
        if (outcome.kind === 'overloaded') return { error: refuse('insufficientStorage', pool) };
        if (!ctx.store.available()) return { error: refuse('storeUnavailable', pool) };
        const id = nuid.next();
        try {
          await ctx.feedback.store(
            {
              id,
              pool: pool.key,
              receivedAt: ctx.now(),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: target.address,
              clientAddress: session.remoteAddress,
            },
            Buffer.concat(outcome.chunks, outcome.bytes),
          );
        } catch (err) {
          ctx.log.warn(
            { err, id, pool: pool.key, listener },
            'could not store report; answering 451',
          );
          return { error: refuse('storeUnavailable', pool) };
        }
        ctx.metrics.feedback.inc({ pool: pool.key, kind: target.kind });
        return { reply: `2.0.0 Ok: queued as ${id}` };
      } finally {
        reservation.release();
      }
    },
  };
}
