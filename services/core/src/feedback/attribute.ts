/**
 * What a parsed feedback message means for the pool: a late bounce or a complaint about
 * one recipient of one message, or nothing the relay acts on. Attribution is by the
 * return path token only: a report is tied to a recipient when the token it came back with
 * (the address it was sent to, or the envelope sender it quotes) verifies for an address
 * the report names. Reports without a token, or whose token verifies for none of the
 * addresses they name, change nothing: a forged bounce cannot suppress anyone.
 */

import type { BounceClassifier } from '../policy/bounce-classifier.ts';
import type { BounceCategory } from '../policy/bounce-rules.ts';
import type { ParsedFeedback, ReportedRecipient } from './report.ts';
import { parseReturnPath, type ReturnPathToken, verifyReturnPath } from './token.ts';

export interface FeedbackReply {
  code: number;
  enhanced?: string;
  text: string;
  remoteHost?: string;
}

export type FeedbackVerdict =
  /** A final failure reported after the relay's delivery was accepted. */
  | {
      kind: 'bounce';
      id: string;
      rcpt: string;
      reply: FeedbackReply;
      category: BounceCategory;
      suppress: boolean;
    }
  /** A recipient's complaint (ARF feedback types abuse, fraud, virus, other). */
  | {
      kind: 'complaint';
      id: string;
      rcpt: string;
      feedbackType: string;
      sourceIp?: string;
      senderDomain?: string;
    }
  /** An attributed report that asks for nothing: delayed, delivered, relayed, not-spam. */
  | { kind: 'notice'; id: string; rcpt: string; what: string }
  /** A token was present and verified for no address the report names. */
  | { kind: 'forged' }
  /** A report, but no token to tie it to a message (e.g. a redacted complaint). */
  | { kind: 'unattributed' }
  /** Not a report at all. */
  | { kind: 'other' };

export interface AttributionInput {
  report: ParsedFeedback;
  /** The address the feedback message was sent to (its RCPT TO). */
  sentTo: string;
  key: Uint8Array;
  pool: string;
  classify: BounceClassifier;
}

const COMPLAINT_TYPES = new Set(['abuse', 'fraud', 'virus', 'other']);

function match(
  tokens: readonly ReturnPathToken[],
  addresses: readonly string[],
  key: Uint8Array,
  pool: string,
): { token: ReturnPathToken; rcpt: string } | undefined {
  for (const token of tokens) {
    for (const rcpt of addresses) {
      if (verifyReturnPath(key, pool, token, rcpt)) return { token, rcpt };
    }
  }
  return undefined;
}

function replyOf(entry: ReportedRecipient, code: number | undefined): FeedbackReply {
  const enhanced = entry.status;
  return {
    code: code ?? (enhanced?.startsWith('4.') ? 450 : 550),
    // The reply text without its code, as the sender reports synchronous replies.
    text: (entry.diagnostic ?? enhanced ?? 'delivery failed (late report)').replace(
      /^[245]\d\d[ -]/,
      '',
    ),
    ...(enhanced ? { enhanced } : {}),
    ...(entry.remoteMta ? { remoteHost: entry.remoteMta } : {}),
  };
}

export function attributeFeedback(input: AttributionInput): FeedbackVerdict {
  const { report, key, pool } = input;
  if (report.format === 'other') return { kind: 'other' };
  const tokens = [input.sentTo, ...report.returnPaths]
    .map(parseReturnPath)
    .filter((t): t is ReturnPathToken => t !== undefined);
  if (tokens.length === 0) return { kind: 'unattributed' };

  if (report.complaint) {
    const found = match(tokens, report.complaint.addresses, key, pool);
    if (!found) return { kind: 'forged' };
    const { feedbackType, sourceIp, fromDomain } = report.complaint;
    if (!COMPLAINT_TYPES.has(feedbackType)) {
      return { kind: 'notice', id: found.token.id, rcpt: found.rcpt, what: feedbackType };
    }
    return {
      kind: 'complaint',
      id: found.token.id,
      rcpt: found.rcpt,
      feedbackType,
      ...(sourceIp ? { sourceIp } : {}),
      ...(fromDomain ? { senderDomain: fromDomain } : {}),
    };
  }

  for (const entry of report.recipients) {
    const found = match(tokens, entry.addresses, key, pool);
    if (!found) continue;
    const classification = input.classify({
      ...(entry.status ? { enhancedCode: entry.status } : {}),
      text: entry.diagnostic ?? entry.status ?? '',
    });
    const final =
      entry.action === 'failed' || (entry.action === '' && classification.action === 'bounce');
    if (!final) {
      return {
        kind: 'notice',
        id: found.token.id,
        rcpt: found.rcpt,
        what: entry.action || 'delayed',
      };
    }
    return {
      kind: 'bounce',
      id: found.token.id,
      rcpt: found.rcpt,
      reply: replyOf(entry, classification.code),
      category: classification.category,
      suppress: classification.suppress,
    };
  }
  return { kind: 'forged' };
}
