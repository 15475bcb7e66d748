/**
 * Reading the message of a DATA command. Bytes are kept only while the message can still
 * be accepted: once it is over the pool's size limit, has a line end the relay refuses or
 * (with HIKYAKU_LONG_LINES=reject) a line over 998 characters,
 * the rest is read and dropped (SMTP gives no way to refuse before the end of the data),
 * so an oversize or hostile message never fills memory or the store.
 */
import type { SMTPServerDataStream } from 'smtp-server';
import type { Reservation } from './inflight.ts';
import { createLineEndGuard, type LineEndPolicy, type LineEndViolation } from './line-ends.ts';
import { createLineLengthGuard, type LongLinePolicy } from './line-length.ts';

export type DataViolation = LineEndViolation | 'lineTooLong';

export type ReadOutcome =
  /** The message as it came, in pieces: joined once, with the added header fields. */
  | { kind: 'message'; chunks: Buffer[]; bytes: number }
  | { kind: 'tooBig'; bytes: number }
  /** The bytes held by all sessions reached their limit (inflight.ts). */
  | { kind: 'overloaded' }
  | { kind: 'refused'; violation: DataViolation }
  /** The client went away before the end of the data; nothing is to be answered. */
  | { kind: 'aborted' };

export function readMessage(
  stream: SMTPServerDataStream,
  options: {
    maxBytes: number;
    lineEnds: LineEndPolicy;
    longLines: LongLinePolicy;
    /** Where the bytes kept are counted; released here when the message is dropped. */
    reservation: Reservation;
  },
): Promise<ReadOutcome> {
  const guard = createLineEndGuard(options.lineEnds);
  const lines = options.longLines === 'reject' ? createLineLengthGuard() : undefined;
  const chunks: Buffer[] = [];
  let bytes = 0;
  let keeping = true;
  let overloaded = false;
  /** Bytes of the message as stored (with bare line ends normalised, it grows). */
  let keptBytes = 0;
  const drop = (): void => {
    keeping = false;
    chunks.length = 0;
    options.reservation.release();
  };
  const refusing = (): DataViolation | undefined => {
    const lineEnd =
      guard.violation === 'smuggling' || options.lineEnds === 'reject'
        ? guard.violation
        : undefined;
    return lineEnd ?? (lines?.tooLong ? 'lineTooLong' : undefined);
  };

  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const kept = guard.push(chunk);
      if (!keeping) return;
      lines?.push(kept);
      if (bytes > options.maxBytes || refusing()) {
        drop();
        return;
      }
      if (!options.reservation.add(kept.length)) {
        overloaded = true;
        drop();
        return;
      }
      chunks.push(kept);
      keptBytes += kept.length;
    });
    stream.once('error', () => resolve({ kind: 'aborted' }));
    stream.once('end', () => {
      const tail = guard.end();
      if (keeping) lines?.push(tail);
      const violation = refusing();
      if (violation) {
        resolve({ kind: 'refused', violation });
      } else if (bytes > options.maxBytes) {
        resolve({ kind: 'tooBig', bytes });
      } else if (overloaded) {
        resolve({ kind: 'overloaded' });
      } else {
        chunks.push(tail);
        options.reservation.add(tail.length);
        resolve({ kind: 'message', chunks, bytes: keptBytes + tail.length });
      }
    });
  });
}
