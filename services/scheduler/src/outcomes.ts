/**
 * What the scheduler makes of one job's result, recipient by recipient: delivered,
 * bounced (and whether to suppress the address) or deferred, and whether the receiver
 * asked this IP to slow down. Pure: the classifier (the pool's bounce rules plus the rate
 * policy's throttle patterns) is passed in.
 *
 * The classifier's action decides, not the sender's status: a 5xx that means "slow down"
 * (docomo's "552 too many recipients") is retried, not bounced. A reset or timed-out
 * connection counts as a throttle signal too: receivers that dislike a sender's pace
 * often just hang up. A refused connection does not (the server is down, not annoyed).
 */
import type { RecipientOutcome } from '@hikyaku/core';
import type { BounceClassification, BounceClassifier } from '@hikyaku/core/policy';

/** Connection failures (sender error codes) that count as "slow down". */
export const THROTTLE_CONNECTION_ERRORS: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNECTION',
  'ETIMEDOUT',
  'EPIPE',
]);

export interface Judged {
  outcome: RecipientOutcome;
  classification: BounceClassification;
}

export interface Judgement {
  delivered: RecipientOutcome[];
  bounced: Judged[];
  deferred: Judged[];
  /** The receiver asked to slow down (one signal per result, however many said so). */
  throttled: boolean;
}

export function judgeOutcomes(
  outcomes: readonly RecipientOutcome[],
  classify: BounceClassifier,
): Judgement {
  const judgement: Judgement = { delivered: [], bounced: [], deferred: [], throttled: false };
  for (const outcome of outcomes) {
    if (outcome.status === 'delivered') {
      judgement.delivered.push(outcome);
      continue;
    }
    const classification = classify({
      code: outcome.code,
      text: outcome.text,
      ...(outcome.enhanced ? { enhancedCode: outcome.enhanced } : {}),
      ...(outcome.errorCode ? { connectionError: outcome.errorCode } : {}),
    });
    const judged = { outcome, classification };
    if (classification.action === 'bounce') {
      judgement.bounced.push(judged);
      continue;
    }
    judgement.deferred.push(judged);
    if (
      classification.action === 'retry-throttled' ||
      THROTTLE_CONNECTION_ERRORS.has(outcome.errorCode ?? '')
    ) {
      judgement.throttled = true;
    }
  }
  return judgement;
}
