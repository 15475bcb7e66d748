/**
 * Every refusal the ingress gives, as one table: the SMTP reply code, the enhanced status
 * code and the text a client sees, keyed by a stable reason that also labels the refusal
 * metric. docs/ingress.md lists the same table; a test keeps the two in step.
 */
import { HikyakuError } from '@hikyaku/core';

export const REPLIES = {
  badHelo: { code: 501, text: '5.5.2 Helo command rejected: the name must be ASCII' },
  authRequired: { code: 530, text: '5.7.0 Authentication required' },
  relayDenied: { code: 554, text: '5.7.1 Relay access denied' },
  senderNotAllowed: { code: 553, text: '5.7.1 Sender address not allowed for this submitter' },
  badSender: { code: 501, text: '5.1.7 Bad sender address' },
  badRecipient: { code: 501, text: '5.1.3 Bad recipient address' },
  badParameter: { code: 555, text: '5.5.4 Unsupported MAIL FROM or RCPT TO parameter' },
  badDsnParameter: { code: 501, text: '5.5.4 Invalid DSN parameter' },
  badParameterValue: { code: 501, text: '5.5.4 Invalid MAIL FROM or RCPT TO parameter value' },
  needsSmtputf8: { code: 553, text: '5.6.7 Non-ASCII address requires SMTPUTF8' },
  suppressed: { code: 550, text: '5.1.1 Recipient address is suppressed' },
  tooManyRecipients: { code: 452, text: '4.5.3 Too many recipients' },
  insufficientStorage: { code: 452, text: '4.3.1 Insufficient system storage, try again later' },
  rateLimited: { code: 452, text: '4.3.1 Message rate quota exceeded, try again later' },
  messageTooBig: { code: 552, text: '5.3.4 Message size exceeds fixed limit' },
  bareLineEnd: { code: 554, text: '5.5.2 Message contains a bare CR or LF, end lines with CRLF' },
  smuggling: { code: 554, text: '5.5.2 Message contains a non-CRLF end-of-data sequence' },
  lineTooLong: {
    code: 554,
    text: '5.6.0 Message contains a line longer than 998 characters, encode it',
  },
  storeFull: { code: 452, text: '4.3.1 Mail system full, try again later' },
  storeUnavailable: { code: 451, text: '4.3.0 Temporary storage failure, try again later' },
  internalError: { code: 451, text: '4.3.0 Internal error, try again later' },
  authFailed: { code: 535, text: '5.7.8 Authentication credentials invalid' },
  authThrottled: { code: 421, text: '4.7.0 Too many failed authentication attempts' },
  tooManySessions: { code: 421, text: '4.3.2 Too many concurrent sessions, try again later' },
  clientSessionLimit: {
    code: 421,
    text: '4.7.0 Too many concurrent sessions from your address, try again later',
  },
  clientRateLimit: {
    code: 421,
    text: '4.7.0 Too many connections from your address, try again later',
  },
  sessionTimeout: { code: 421, text: '4.4.2 Session time limit reached' },
  idleTimeout: { code: 421, text: '4.4.2 Timeout - closing connection' },
  shuttingDown: { code: 421, text: '4.3.2 Service shutting down, try again later' },
} as const;

export type RefusalReason = keyof typeof REPLIES;

/** Details come from clients or from Redis: keep them short in a reply line. */
const MAX_DETAIL = 200;

/**
 * A refusal as smtp-server expects it from a handler: `responseCode` and a message that
 * starts with the enhanced status code (see relay-server.ts for why that matters).
 */
export class SmtpReplyError extends HikyakuError {
  readonly responseCode: number;
  readonly reason: RefusalReason;

  constructor(reason: RefusalReason, detail?: string) {
    const reply = REPLIES[reason];
    const extra = detail ? `: ${detail.slice(0, MAX_DETAIL)}` : '';
    super('HIKYAKU_SMTP_REFUSED', `${reply.text}${extra}`);
    this.name = 'SmtpReplyError';
    this.responseCode = reply.code;
    this.reason = reason;
  }
}
