/**
 * Remote replies as the scheduler passes them on: into a DSN's Diagnostic-Code, and onto a
 * retry as the recipient's last reply (so a message that expires while it waits still
 * tells its sender what the receiver said).
 */
import { LAST_REPLY_TEXT_MAX, type LastReply, type RecipientOutcome } from '@hikyaku/core';
import { type DsnRecipient, EXPIRED_STATUS, parseSmtpReply } from '@hikyaku/core/policy';

type Reply = Pick<RecipientOutcome, 'code' | 'enhanced' | 'text'>;

/**
 * The remote reply for a DSN's Diagnostic-Code. Senders report the reply as received,
 * code and enhanced code included; the DSN writes those itself, so the text goes bare.
 */
export function diagnosticOf(reply: Reply): NonNullable<DsnRecipient['diagnostic']> {
  const parsed = parseSmtpReply(reply.text);
  const enhancedCode = reply.enhanced ?? parsed.enhancedCode;
  return {
    code: reply.code,
    text: parsed.text || reply.text,
    ...(enhancedCode ? { enhancedCode } : {}),
  };
}

/** A deferred recipient's reply, as kept on its retry. */
export function lastReplyOf(outcome: RecipientOutcome, at: number): LastReply {
  return {
    rcpt: outcome.rcpt,
    code: outcome.code,
    ...(outcome.enhanced ? { enhanced: outcome.enhanced } : {}),
    text: outcome.text.slice(0, LAST_REPLY_TEXT_MAX),
    ...(outcome.remoteHost ? { remoteHost: outcome.remoteHost } : {}),
    at,
  };
}

/** The DSN row of a recipient given up at its maximum age, with its last reply if any. */
export function expiredRecipient(rcpt: string, last: LastReply | undefined): DsnRecipient {
  return {
    recipient: rcpt,
    action: 'failed',
    status: EXPIRED_STATUS,
    ...(last?.remoteHost ? { remoteMta: last.remoteHost } : {}),
    ...(last ? { diagnostic: diagnosticOf(last), lastAttemptAt: last.at } : {}),
  };
}

/**
 * The DSN row of a recipient delivered to a next hop that does not offer DSN: "relayed"
 * (RFC 3464 §2.3.3), with the next hop's reply, for a client that asked NOTIFY=SUCCESS.
 */
export function relayedRecipient(outcome: RecipientOutcome, at: number): DsnRecipient {
  return {
    recipient: outcome.rcpt,
    action: 'relayed',
    status: outcome.enhanced?.startsWith('2.') ? outcome.enhanced : '2.0.0',
    ...(outcome.remoteHost ? { remoteMta: outcome.remoteHost } : {}),
    diagnostic: diagnosticOf(outcome),
    lastAttemptAt: at,
  };
}

/** The expiry text of events: why, and the last reply when there was one. */
export function expiryText(attempts: number, why: string, last: Reply | undefined): string {
  const base = `${EXPIRED_STATUS} Message expired after ${attempts} attempts${why ? ` ${why}` : ''}`;
  return last ? `${base}; last reply: ${last.code} ${last.text}` : base;
}
