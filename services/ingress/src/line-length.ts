/**
 * The length of the lines of message data. RFC 5322 §2.1.1 and RFC 5321 §4.5.3.1.6 allow
 * at most 998 characters before the CRLF; many receivers refuse longer lines, and a relay
 * that folded them would change what the client signed (its DKIM signature would break).
 * So the ingress refuses such a message (554 5.6.0) and the client, which can encode the
 * content (quoted-printable, base64) before signing, sends it again; or, with
 * HIKYAKU_LONG_LINES=accept, passes it on unchanged.
 *
 * The guard sees the data after the line-end guard: every line ends with CRLF there (a
 * bare line end is refused or made a CRLF first).
 */
export const MAX_LINE_LENGTH = 998;

export type LongLinePolicy = 'reject' | 'accept';

export interface LineLengthGuard {
  push(chunk: Buffer): void;
  /** True once a line longer than the limit was seen. */
  readonly tooLong: boolean;
}

const CR = 0x0d;
const LF = 0x0a;

export function createLineLengthGuard(max = MAX_LINE_LENGTH): LineLengthGuard {
  // Octets of the current line so far, its CR included, and whether the last one was CR.
  let length = 0;
  let lastCr = false;
  let tooLong = false;

  return {
    push(chunk) {
      let from = 0;
      while (!tooLong && from < chunk.length) {
        const lf = chunk.indexOf(LF, from);
        const end = lf < 0 ? chunk.length : lf;
        length += end - from;
        if (end > from) lastCr = chunk[end - 1] === CR;
        // Until the LF comes, one CR at the end may still be the line's end.
        if (length - (lastCr ? 1 : 0) > max) tooLong = true;
        if (lf < 0) return;
        length = 0;
        lastCr = false;
        from = lf + 1;
      }
    },

    get tooLong() {
      return tooLong;
    },
  };
}
