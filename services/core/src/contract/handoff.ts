/**
 * The result hand-off: a sender gives a delivery result to a scheduler directly, as a core
 * NATS request (SUBJECTS.resultHandoff, served by the queue group QUEUE_GROUPS.resultHandoff),
 * instead of storing it in HIKYAKU_RESULTS for a scheduler to pull. The request carries the
 * result exactly as the stream would (codecs.result, the sender's wire version). The reply
 * says whether every output of the result is stored: only then may the sender acknowledge
 * its job. Any other answer, or none, sends the sender to the stream.
 */

/**
 * Header of a hand-off naming the acknowledgement subject of the result's job. A scheduler
 * that recorded the result then acknowledges the job itself, asking nats-server to answer
 * the sender (an acknowledgement published with a reply subject is answered with an empty
 * message once the consumer took it): one message instead of the scheduler's OK and the
 * sender's own acknowledgement. A scheduler that does not know the header answers OK as
 * before, and the sender acknowledges its job.
 */
export const HANDOFF_JOB_ACK_HEADER = 'Hikyaku-Job-Ack';

/** Only a JetStream acknowledgement subject is acted on (nats-server's `$JS.ACK.` prefix). */
export function isJobAckSubject(subject: string): boolean {
  return subject.startsWith('$JS.ACK.') && !/[\s*>]/.test(subject);
}

/** A scheduler's answer to a hand-off. */
export type HandoffReply = { ok: true } | { ok: false; code: string; message: string };

const OK = Buffer.from('ok');

/** Why an answer could not be read: a scheduler of another release, or a stray reply. */
const UNREADABLE = 'HIKYAKU_HANDOFF_REPLY_UNREADABLE';

export const handoffReplies = {
  ok: (): Uint8Array => OK,
  /**
   * nats-server's answer to the job's acknowledgement a scheduler sent for the sender
   * (HANDOFF_JOB_ACK_HEADER): empty, and without headers (a status message is not it).
   * Read as such only by a sender that asked for it.
   */
  isJobAcked: (data: Uint8Array): boolean => data.length === 0,
  error: (code: string, message: string): Uint8Array =>
    Buffer.from(JSON.stringify({ code, message })),
  decode(data: Uint8Array): HandoffReply {
    if (data.length === OK.length && OK.equals(data)) return { ok: true };
    try {
      const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as unknown;
      if (parsed && typeof parsed === 'object') {
        const { code, message } = parsed as Record<string, unknown>;
        if (typeof code === 'string') {
          return { ok: false, code, message: typeof message === 'string' ? message : '' };
        }
      }
    } catch {
      // Falls through to the unreadable answer below.
    }
    return { ok: false, code: UNREADABLE, message: 'the scheduler answered something unreadable' };
  },
} as const;
