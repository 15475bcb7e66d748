/**
 * Classifying one failed delivery attempt: which category of failure it is (see
 * bounce-rules.ts) and what the scheduler does next.
 *
 * Actions follow from the category and the reply class, never from a rule:
 *   - throttled          -> retry-throttled, whatever the class: a server asking us to
 *                           slow down (docomo answers "552 too many recipients") is obeyed,
 *                           not bounced.
 *   - class 5 (5xx)      -> bounce; `suppress` only for a hard bounce (the address is dead).
 *   - class 4 or no reply -> retry. A 4xx "user unknown" is the server's word that it may
 *                           change, so it is retried and never suppresses.
 * The class is the reply code's; without a reply code, the enhanced code's; without
 * either (a connection error, or only text), 4: what we cannot read is never bounced.
 */

import { type BounceCategory, type BounceRule, DEFAULT_BOUNCE_RULES } from './bounce-rules.ts';
import { BadThrottleError } from './errors.ts';
import { enhancedCodeMatches, isEnhancedCode, parseSmtpReply } from './smtp-reply.ts';

export type BounceAction = 'bounce' | 'retry' | 'retry-throttled';

/**
 * One failed attempt, as the sender reports it (a RecipientOutcome maps field for field:
 * code, enhanced, text, errorCode).
 */
export interface SmtpFailure {
  /**
   * SMTP reply code (550); absent, or 0, when no reply was received. A reply code in
   * 200..599 means a reply came, and the reply decides even if connectionError is set.
   */
  code?: number;
  /** Enhanced status code when the sender parsed it; otherwise it is read from `text`. */
  enhancedCode?: string;
  /** Reply text, possibly multi-line and with code prefixes, or an error message. */
  text?: string;
  /** Node/nodemailer error code when the failure was below SMTP: ECONNRESET, ETIMEDOUT, ... */
  connectionError?: string;
}

/** A failure read into the fields rules match on. */
export interface NormalisedFailure {
  code?: number;
  enhancedCode?: string;
  /** Joined text; for a failure without reply, prefixed by the connection error code. */
  text: string;
  connectionError?: string;
  replyClass: 4 | 5;
}

export interface BounceClassification {
  category: BounceCategory;
  action: BounceAction;
  /** The address is dead: suppress it when the pool's bounces.suppressHardBounces is on. */
  suppress: boolean;
  /** Name of the rule that decided, for logs and events. */
  rule: string;
  code?: number;
  enhancedCode?: string;
  text: string;
}

export interface BounceClassifierOptions {
  /**
   * The rate policy's onThrottle.patterns: case-insensitive regular expressions, tried
   * before every built-in rule, that mark a failure as throttled. They see the reply
   * text and, for failures without a reply, the error code too, so a destination known to
   * throttle by resetting connections can list "ECONNRESET".
   */
  throttlePatterns?: readonly string[];
  /** Replaces the built-in table (tests, or an operator's own table). */
  rules?: readonly BounceRule[];
}

export type BounceClassifier = (failure: SmtpFailure) => BounceClassification;

/** Reads code, enhanced code and class out of a failure, filling what the text carries. */
export function normaliseFailure(failure: SmtpFailure): NormalisedFailure {
  const parsed = parseSmtpReply(failure.text ?? '');
  const code = validCode(failure.code) ?? validCode(parsed.code);
  const given = failure.enhancedCode?.trim();
  const enhancedCode = given !== undefined && isEnhancedCode(given) ? given : parsed.enhancedCode;
  const connectionError = failure.connectionError?.trim() || undefined;
  const text =
    code === undefined && connectionError !== undefined
      ? `${connectionError} ${parsed.text}`.trim()
      : parsed.text;
  const normalised: NormalisedFailure = { text, replyClass: replyClassOf(code, enhancedCode) };
  if (code !== undefined) normalised.code = code;
  if (enhancedCode !== undefined) normalised.enhancedCode = enhancedCode;
  if (connectionError !== undefined) normalised.connectionError = connectionError;
  return normalised;
}

/** Whether every condition a rule states holds for the failure. */
export function ruleMatches(rule: BounceRule, failure: NormalisedFailure): boolean {
  if (rule.connection === true) {
    if (failure.code !== undefined || failure.connectionError === undefined) return false;
  }
  if (rule.replyClass !== undefined && rule.replyClass !== failure.replyClass) return false;
  if (rule.codes !== undefined) {
    if (failure.code === undefined || !rule.codes.includes(failure.code)) return false;
  }
  if (rule.enhanced !== undefined) {
    const code = failure.enhancedCode;
    if (code === undefined || !rule.enhanced.some((p) => enhancedCodeMatches(p, code))) {
      return false;
    }
  }
  if (rule.text !== undefined && !rule.text.test(failure.text)) return false;
  return true;
}

/** The action for a category at a reply class; see the module comment. */
export function actionFor(category: BounceCategory, replyClass: 4 | 5): BounceAction {
  if (category === 'throttled' || category === 'connections') return 'retry-throttled';
  if (category === 'recipient-rate') return 'retry';
  return replyClass === 5 ? 'bounce' : 'retry';
}

/** Turns a rate policy's onThrottle.patterns into rules; throws BadThrottleError naming a bad one. */
export function throttlePatternRules(patterns: readonly string[]): BounceRule[] {
  return patterns.map((pattern) => {
    let text: RegExp;
    try {
      text = new RegExp(pattern, 'i');
    } catch (cause) {
      throw new BadThrottleError(`pattern ${JSON.stringify(pattern)} does not compile`, cause);
    }
    return { name: `throttle-pattern:${pattern}`, category: 'throttled', text };
  });
}

/** Compiles a classifier once per rate policy; the returned function is pure and cheap. */
export function createBounceClassifier(options: BounceClassifierOptions = {}): BounceClassifier {
  const rules = [
    ...throttlePatternRules(options.throttlePatterns ?? []),
    ...(options.rules ?? DEFAULT_BOUNCE_RULES),
  ];
  return (failure) => {
    const normalised = normaliseFailure(failure);
    const rule = rules.find((r) => ruleMatches(r, normalised));
    // Only a custom table without catch-alls can fall through; treat it like 'temporary'.
    const category: BounceCategory = rule?.category ?? 'soft';
    const action = actionFor(category, normalised.replyClass);
    const classification: BounceClassification = {
      category,
      action,
      suppress: category === 'hard' && action === 'bounce',
      rule: rule?.name ?? 'unmatched',
      text: normalised.text,
    };
    if (normalised.code !== undefined) classification.code = normalised.code;
    if (normalised.enhancedCode !== undefined) {
      classification.enhancedCode = normalised.enhancedCode;
    }
    return classification;
  };
}

/** One-off classification; prefer createBounceClassifier when classifying many failures. */
export function classifyBounce(
  failure: SmtpFailure,
  options?: BounceClassifierOptions,
): BounceClassification {
  return createBounceClassifier(options)(failure);
}

function validCode(code: number | undefined): number | undefined {
  return code !== undefined && Number.isInteger(code) && code >= 200 && code <= 599
    ? code
    : undefined;
}

function replyClassOf(code: number | undefined, enhancedCode: string | undefined): 4 | 5 {
  if (code !== undefined) return code >= 500 ? 5 : 4;
  return enhancedCode?.startsWith('5.') ? 5 : 4;
}
