/**
 * The result hand-off: a sender gives a delivery result to a scheduler directly, as a core
 * NATS request (SUBJECTS.resultHandoff, served by the queue group QUEUE_GROUPS.resultHandoff),
 * instead of storing it in HIKYAKU_RESULTS for a scheduler to pull. The request carries the
 * result exactly as the stream would (codecs.result, the sender's wire version). The reply
 * says whether every output of the result is stored: only then may the sender acknowledge
 * its job. Any other answer, or none, sends the sender to the stream.
 */

/** A scheduler's answer to a hand-off. */
export type HandoffReply = { ok: true } | { ok: false; code: string; message: string };

const OK = Buffer.from('ok');

/** Why an answer could not be read: a scheduler of another release, or a stray reply. */
const UNREADABLE = 'HIKYAKU_HANDOFF_REPLY_UNREADABLE';

export const handoffReplies = {
  ok: (): Uint8Array => OK,
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
