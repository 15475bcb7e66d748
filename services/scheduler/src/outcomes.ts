/**
 * What the scheduler makes of one job's result, recipient by recipient: delivered,
 * bounced (and whether to suppress the address) or deferred, and whether the receiver
 * asked this IP to slow down. Pure: the classifier (the pool's bounce rules plus the rate
 * policy's throttle patterns) is passed in.
 *
 * The classifier's action decides, not the sender's status: a 5xx that means "slow down"
 * (docomo's "552 too many recipients") is retried, not bounced. A reply about one busy
 * mailbox (4.2.1 "receiving mail too quickly") is retried for that recipient alone and
 * slows nothing else. A reset or timed-out connection counts as a throttle signal too:
 * receivers that dislike a sender's pace often just hang up. Replies that name
 * connections, and connections refused or reset, are about how many connections the IP
 * holds, so they lower that instead of the rate.
 */
import type { RecipientOutcome } from '@hikyaku/core';
import type { BounceClassification, BounceClassifier, ThrottleReason } from '@hikyaku/core/policy';

/** Connection failures (sender error codes) that count as "slow down", and about what. */
export const THROTTLE_CONNECTION_ERRORS: ReadonlyMap<string, ThrottleReason> = new Map([
  ['ECONNRESET', 'connections'],
  ['ECONNREFUSED', 'connections'],
  ['EPIPE', 'connections'],
  ['ECONNECTION', 'rate'],
  ['ETIMEDOUT', 'rate'],
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
  /** What it asked to slow down: the rate, or the connections ('rate' wins when both). */
  signal?: ThrottleReason;
}

function signalOf(judged: Judged): ThrottleReason | undefined {
  const { outcome, classification } = judged;
  if (classification.category === 'connections') return 'connections';
  if (classification.action === 'retry-throttled') return 'rate';
  return THROTTLE_CONNECTION_ERRORS.get(outcome.errorCode ?? '');
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
    const signal = signalOf(judged);
    if (signal !== undefined) {
      judgement.throttled = true;
      if (judgement.signal !== 'rate') judgement.signal = signal;
    }
  }
  return judgement;
}
