/**
 * Every way the scheduler's policy can refuse its input. Each code is stable: logs, status
 * conditions and tests match on it, never on the message. A bad value that came from a
 * RelayPool spec names that value, so the operator can find it.
 */

import { HikyakuError } from '../errors.ts';

export const POLICY_ERROR_CODES = {
  HIKYAKU_BAD_DURATION: 'A duration is not of the form 90s, 10m, 4h, 3d or 1h30m.',
  HIKYAKU_BAD_DATE: 'A calendar date is not a real YYYY-MM-DD date.',
  HIKYAKU_BAD_TIME_ZONE: 'A time zone is not an IANA time zone name.',
  HIKYAKU_BAD_WARMUP_SCHEDULE: 'A warm-up schedule is empty, unordered or has a bad limit.',
  HIKYAKU_BAD_RETRY_POLICY: 'A retry schedule is empty or a retry setting is out of range.',
  HIKYAKU_BAD_THROTTLE: 'A throttle setting is out of range or a pattern does not compile.',
  HIKYAKU_BAD_RATE_POLICY: 'A rate policy is duplicated, matches nothing or has a bad limit.',
  HIKYAKU_BAD_REPUTATION: 'A reputation setting is out of range or a DNSBL zone is not a DNS name.',
  HIKYAKU_BAD_FEEDBACK:
    'A feedback setting (return path, complaint guard) is missing or out of range.',
  HIKYAKU_BAD_WEBHOOK: 'A webhook is not https, has no secret, or a batch setting is out of range.',
  HIKYAKU_BAD_POLICY_ARGUMENT: 'A caller passed a value the policy cannot work with.',
} as const;

export type PolicyErrorCode = keyof typeof POLICY_ERROR_CODES;

/** A HikyakuError whose code is one of POLICY_ERROR_CODES. */
export class PolicyError extends HikyakuError {
  declare readonly code: PolicyErrorCode;

  constructor(code: PolicyErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'PolicyError';
  }
}

export class BadDurationError extends PolicyError {
  readonly value: string;

  /** Where the value came from ("retry.maxAge"), when the caller said. */
  readonly field: string | undefined;

  constructor(value: string, reason: string, field?: string) {
    const where = field === undefined ? '' : `${field}: `;
    super('HIKYAKU_BAD_DURATION', `${where}bad duration ${JSON.stringify(value)}: ${reason}`);
    this.name = 'BadDurationError';
    this.value = value;
    this.field = field;
  }
}

export class BadDateError extends PolicyError {
  readonly value: string;

  constructor(value: string) {
    super('HIKYAKU_BAD_DATE', `bad date ${JSON.stringify(value)}: expected YYYY-MM-DD`);
    this.name = 'BadDateError';
    this.value = value;
  }
}

export class BadTimeZoneError extends PolicyError {
  readonly value: string;

  constructor(value: string, cause?: unknown) {
    super('HIKYAKU_BAD_TIME_ZONE', `bad time zone ${JSON.stringify(value)}`, { cause });
    this.name = 'BadTimeZoneError';
    this.value = value;
  }
}

export class BadFeedbackError extends PolicyError {
  constructor(reason: string) {
    super('HIKYAKU_BAD_FEEDBACK', `bad feedback settings: ${reason}`);
    this.name = 'BadFeedbackError';
  }
}

export class BadWebhookError extends PolicyError {
  constructor(reason: string) {
    super('HIKYAKU_BAD_WEBHOOK', `bad webhook: ${reason}`);
    this.name = 'BadWebhookError';
  }
}

export class BadWarmupScheduleError extends PolicyError {
  constructor(reason: string) {
    super('HIKYAKU_BAD_WARMUP_SCHEDULE', `bad warm-up schedule: ${reason}`);
    this.name = 'BadWarmupScheduleError';
  }
}

export class BadRetryPolicyError extends PolicyError {
  constructor(reason: string, cause?: unknown) {
    super('HIKYAKU_BAD_RETRY_POLICY', `bad retry policy: ${reason}`, { cause });
    this.name = 'BadRetryPolicyError';
  }
}

export class BadThrottleError extends PolicyError {
  constructor(reason: string, cause?: unknown) {
    super('HIKYAKU_BAD_THROTTLE', `bad throttle setting: ${reason}`, { cause });
    this.name = 'BadThrottleError';
  }
}

export class BadRatePolicyError extends PolicyError {
  readonly policy: string;

  constructor(policy: string, reason: string, cause?: unknown) {
    super('HIKYAKU_BAD_RATE_POLICY', `bad rate policy ${JSON.stringify(policy)}: ${reason}`, {
      cause,
    });
    this.name = 'BadRatePolicyError';
    this.policy = policy;
  }
}

export class BadReputationError extends PolicyError {
  constructor(reason: string, cause?: unknown) {
    super('HIKYAKU_BAD_REPUTATION', `bad reputation setting: ${reason}`, { cause });
    this.name = 'BadReputationError';
  }
}

/** A programming error in the caller rather than a bad spec: a negative attempt, an rng out of [0, 1). */
export class PolicyArgumentError extends PolicyError {
  constructor(reason: string) {
    super('HIKYAKU_BAD_POLICY_ARGUMENT', reason);
    this.name = 'PolicyArgumentError';
  }
}
