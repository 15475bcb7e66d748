/**
 * The scheduler's policy: every decision it makes, as pure functions of their inputs
 * (time and randomness passed in). The scheduler's I/O (JetStream, Redis) lives outside
 * this directory and calls in here.
 */

export {
  actionFor,
  type BounceAction,
  type BounceClassification,
  type BounceClassifier,
  type BounceClassifierOptions,
  classifyBounce,
  createBounceClassifier,
  type NormalisedFailure,
  normaliseFailure,
  ruleMatches,
  type SmtpFailure,
  throttlePatternRules,
} from './bounce-classifier.ts';
export {
  BOUNCE_CATEGORIES,
  type BounceCategory,
  type BounceRule,
  DEFAULT_BOUNCE_RULES,
} from './bounce-rules.ts';
export {
  type ComplaintGuard,
  type ComplaintLevel,
  type ComplaintVerdict,
  DEFAULT_COMPLAINT_GUARD,
  judgeComplaintRate,
  resolveComplaintGuard,
} from './complaint-guard.ts';
export {
  buildDsn,
  type Dsn,
  type DsnDecision,
  type DsnInput,
  type DsnRecipient,
  type DsnRefusal,
  encodeOrcpt,
  encodeXtext,
  notifyWants,
  shouldSendDsn,
} from './dsn.ts';
export {
  DAY,
  durationOr,
  formatDuration,
  HOUR,
  MINUTE,
  parseDuration,
  SECOND,
} from './duration.ts';
export {
  BadDateError,
  BadDurationError,
  BadFeedbackError,
  BadRatePolicyError,
  BadRetryPolicyError,
  BadThrottleError,
  BadTimeZoneError,
  BadWarmupScheduleError,
  POLICY_ERROR_CODES,
  PolicyArgumentError,
  PolicyError,
  type PolicyErrorCode,
} from './errors.ts';
export { type HeaderInput, type HeaderMap, parseHeaderBlock } from './mail-headers.ts';
export {
  createRatePolicyMatcher,
  DEFAULT_PER_IP_RATE,
  DEFAULT_RATE_POLICY_NAME,
  type Destination,
  hostPatternMatches,
  matchRatePolicy,
  normaliseHostName,
  type RatePolicyMatcher,
  type ResolvedOnThrottle,
  type ResolvedPerIpRate,
  type ResolvedRatePolicy,
  resolveRatePolicies,
} from './rate-policy.ts';
export {
  DEFAULT_MAX_AGE,
  DEFAULT_RETRY_JITTER,
  DEFAULT_RETRY_SCHEDULE,
  EXPIRED_STATUS,
  type NextRetryInput,
  nextRetry,
  type RetryDecision,
  type RetryPolicy,
  resolveRetryPolicy,
} from './retry.ts';
export {
  enhancedCodeMatches,
  isEnhancedCode,
  type ParsedSmtpReply,
  parseSmtpReply,
} from './smtp-reply.ts';
export {
  currentFactor,
  DEFAULT_THROTTLE_FACTOR,
  DEFAULT_THROTTLE_PAUSE,
  DEFAULT_THROTTLE_RECOVER_AFTER,
  DEFAULT_THROTTLE_SETTINGS,
  type EffectiveRate,
  effectiveRate,
  isThrottleState,
  MIN_MESSAGES_PER_MINUTE,
  MIN_THROTTLE_FACTOR,
  onThrottleSignal,
  resolveThrottleSettings,
  type ThrottleSettings,
  type ThrottleState,
  type ThrottleStatus,
  throttleSettledAt,
  throttleStatus,
} from './throttle.ts';
export {
  type AdvanceWarmupInput,
  type AdvanceWarmupResult,
  advanceWarmupState,
  calendarDayKey,
  checkWarmupSchedule,
  DEFAULT_MIN_DELIVERED_RATIO,
  DEFAULT_TIME_ZONE,
  dailyLimitForDay,
  dayKeyFormatter,
  daysBetween,
  initialWarmupState,
  nextDayStart,
  type WarmupCap,
  type WarmupCapInput,
  type WarmupState,
  type WarmupToday,
  type WarmupTodayInput,
  warmupCap,
  warmupDayNumber,
  warmupToday,
} from './warmup.ts';
