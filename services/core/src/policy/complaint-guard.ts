/**
 * The complaint-rate guard: per sender domain, complaints over delivered messages in a
 * rolling window of whole days. Above the warning rate the pool reports it; above the stop
 * rate, with action `defer`, the domain's bulk mail waits until an admin releases it.
 * A domain with fewer delivered messages than `minDelivered` in the window is not judged:
 * one complaint about ten messages says nothing yet.
 */
import type { ComplaintGuardSpec } from '../pool/spec.ts';
import { DAY, parseDuration } from './duration.ts';
import { BadFeedbackError } from './errors.ts';

export interface ComplaintGuard {
  warnRate: number;
  stopRate: number;
  action: 'defer' | 'warn';
  windowDays: number;
  minDelivered: number;
}

export const DEFAULT_COMPLAINT_GUARD: Readonly<ComplaintGuard> = Object.freeze({
  warnRate: 0.001,
  stopRate: 0.003,
  action: 'defer',
  windowDays: 7,
  minDelivered: 1000,
});

/** Fills the defaults and checks the ranges; throws BadFeedbackError naming the field. */
export function resolveComplaintGuard(spec: ComplaintGuardSpec = {}): ComplaintGuard {
  const warnRate = spec.warnRate ?? DEFAULT_COMPLAINT_GUARD.warnRate;
  const stopRate = spec.stopRate ?? DEFAULT_COMPLAINT_GUARD.stopRate;
  for (const [field, rate] of [
    ['warnRate', warnRate],
    ['stopRate', stopRate],
  ] as const) {
    if (!(rate > 0 && rate < 1)) {
      throw new BadFeedbackError(`feedback.complaints.${field} must be in (0, 1), got ${rate}`);
    }
  }
  if (warnRate > stopRate) {
    throw new BadFeedbackError(
      `feedback.complaints.warnRate (${warnRate}) must not exceed stopRate (${stopRate})`,
    );
  }
  const windowMs = parseDuration(
    spec.window ?? `${DEFAULT_COMPLAINT_GUARD.windowDays}d`,
    'feedback.complaints.window',
  );
  if (windowMs % DAY !== 0 || windowMs < DAY || windowMs > 90 * DAY) {
    throw new BadFeedbackError(
      `feedback.complaints.window must be whole days between 1d and 90d, got ${spec.window}`,
    );
  }
  const minDelivered = spec.minDelivered ?? DEFAULT_COMPLAINT_GUARD.minDelivered;
  if (!(Number.isInteger(minDelivered) && minDelivered >= 1)) {
    throw new BadFeedbackError(
      `feedback.complaints.minDelivered must be a positive integer, got ${minDelivered}`,
    );
  }
  return {
    warnRate,
    stopRate,
    action: spec.action ?? DEFAULT_COMPLAINT_GUARD.action,
    windowDays: windowMs / DAY,
    minDelivered,
  };
}

export type ComplaintLevel = 'ok' | 'warn' | 'stop';

export interface ComplaintVerdict {
  level: ComplaintLevel;
  /** complaints / delivered in the window; 0 while nothing was delivered. */
  rate: number;
  /** True when the domain's bulk mail must now be held (level stop, action defer). */
  hold: boolean;
}

/** The guard's verdict on a sender domain's counts over its window. */
export function judgeComplaintRate(
  guard: ComplaintGuard,
  counts: { delivered: number; complaints: number },
): ComplaintVerdict {
  const rate = counts.delivered > 0 ? counts.complaints / counts.delivered : 0;
  if (counts.delivered < guard.minDelivered) return { level: 'ok', rate, hold: false };
  const level: ComplaintLevel =
    rate > guard.stopRate ? 'stop' : rate > guard.warnRate ? 'warn' : 'ok';
  return { level, rate, hold: level === 'stop' && guard.action === 'defer' };
}
