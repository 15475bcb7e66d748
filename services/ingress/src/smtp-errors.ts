/**
 * Every refusal the ingress gives, as one table: the SMTP reply code, the enhanced status
 * code and the text a client sees, keyed by a stable reason that also labels the
 * refusal metric.
 */
export const REPLIES = {
  authRequired: { code: 530, text: '5.7.0 Authentication required' },
  relayDenied: { code: 554, text: '5.7.1 Relay access denied' },
  senderNotAllowed: { code: 553, text: '5.7.1 Sender address not allowed for this submitter' },
  tooManyRecipients: { code: 452, text: '4.5.3 Too many recipients' },
  messageTooBig: { code: 552, text: '5.3.4 Message size exceeds fixed limit' },
  storeUnavailable: { code: 451, text: '4.3.0 Temporary storage failure, try again later' },
  badRecipient: { code: 501, text: '5.1.3 Bad recipient address syntax' },
  badSender: { code: 501, text: '5.1.7 Bad sender address syntax' },
  noRecipients: { code: 554, text: '5.5.1 No valid recipients' },
  shuttingDown: { code: 421, text: '4.3.2 Service shutting down, try again later' },
} as const;

export type RefusalReason = keyof typeof REPLIES;

export class SmtpReplyError extends Error {
  readonly responseCode: number;
  readonly reason: RefusalReason;

  constructor(reason: RefusalReason, detail?: string) {
    const reply = REPLIES[reason];
    super(detail ? `${reply.text}: ${detail}` : reply.text);
    this.name = 'SmtpReplyError';
    this.responseCode = reply.code;
    this.reason = reason;
  }
}
