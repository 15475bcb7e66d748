/**
 * Line ends in message data. SMTP ends a line with CRLF and the data with CRLF "." CRLF;
 * smtp-server ends DATA on exactly that and nothing else. Servers further down the path may
 * also end it on a bare LF or CR (`<LF>.<LF>`, `<CR>.<CR>`, …), so a message that carries
 * such a sequence could be split there into two messages, the second one forged (SMTP
 * smuggling, CVE-2023-51764 and relatives). The guard sees the data as smtp-server hands it
 * over (dot-stuffing removed) and:
 *
 * - `reject`: any bare CR or LF makes the message refused; it is stored byte for byte
 *   otherwise, so DKIM signatures of the client survive.
 * - `normalize`: bare CR and bare LF become CRLF (what a receiving MTA would do), but a
 *   "." line next to a bare CR or LF is still refused as smuggling.
 *
 * In both modes a line of NUL bytes and a "." is refused as smuggling too (a server that
 * drops NUL bytes would read it as the end of the data).
 *
 * Either way no line end is interpreted by one side only.
 */
export type LineEndPolicy = 'reject' | 'normalize';

/** Why a message is refused: smuggling outranks a mere bare line end. */
export type LineEndViolation = 'smuggling' | 'bareLineEnd';

export interface LineEndGuard {
  /** Feeds a chunk; returns the bytes to keep (the same chunk unless normalising). */
  push(chunk: Buffer): Buffer;
  /** Ends the data; returns what was held back (a CR at the end of the last chunk). */
  end(): Buffer;
  readonly violation: LineEndViolation | undefined;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const NUL = 0x00;
const CRLF = Buffer.from('\r\n');

/** What the current line holds so far. */
const Line = { Empty: 0, Nul: 1, Dot: 2, NulDot: 3, Other: 4 } as const;
type LineState = (typeof Line)[keyof typeof Line];

export function createLineEndGuard(policy: LineEndPolicy): LineEndGuard {
  const normalise = policy === 'normalize';
  let violation: LineEndViolation | undefined;
  // The data starts as if after the CRLF that ended the DATA command.
  let startedBare = false;
  let line: LineState = Line.Empty;
  let heldCr = false;

  function lineBreak(bare: boolean): void {
    // A "." line is how a CRLF end of data arrives here once dot-stuffing is undone, so it
    // is only suspect next to a bare line end. NUL bytes before the dot are always
    // suspect: servers that drop NUL would see "." there, and nothing stuffs that line.
    if ((line === Line.Dot && (bare || startedBare)) || line === Line.NulDot) {
      violation = 'smuggling';
    } else if (bare && violation === undefined) {
      violation = 'bareLineEnd';
    }
    startedBare = bare;
    line = Line.Empty;
  }

  function content(byte: number): void {
    if (line === Line.Empty || line === Line.Nul) {
      if (byte === NUL) line = Line.Nul;
      else if (byte === DOT) line = line === Line.Nul ? Line.NulDot : Line.Dot;
      else line = Line.Other;
    } else if (line !== Line.Other) {
      line = Line.Other;
    }
  }

  return {
    push(chunk) {
      // Normalising rewrites only around bare line ends; the pieces between are kept as
      // they are and joined once per chunk.
      const pieces: Buffer[] = [];
      let from = 0;
      let i = 0;
      if (heldCr) {
        heldCr = false;
        if (chunk[0] === LF) {
          if (normalise) pieces.push(CRLF);
          lineBreak(false);
          from = i = 1;
        } else {
          if (normalise) pieces.push(CRLF);
          lineBreak(true);
        }
      }
      for (; i < chunk.length; i++) {
        const byte = chunk[i] as number;
        if (byte === CR) {
          if (i + 1 === chunk.length) {
            // Whether this CR ends a line depends on the next chunk.
            if (normalise) pieces.push(chunk.subarray(from, i));
            from = chunk.length;
            heldCr = true;
          } else if (chunk[i + 1] === LF) {
            lineBreak(false);
            i++;
          } else {
            if (normalise) {
              pieces.push(chunk.subarray(from, i), CRLF);
              from = i + 1;
            }
            lineBreak(true);
          }
        } else if (byte === LF) {
          if (normalise) {
            pieces.push(chunk.subarray(from, i), CRLF);
            from = i + 1;
          }
          lineBreak(true);
        } else if (line === Line.Other) {
          // Nothing else on this line can matter: jump to its end (native scan, not a loop).
          const cr = chunk.indexOf(CR, i);
          const lf = chunk.indexOf(LF, i);
          const next = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
          i = (next < 0 ? chunk.length : next) - 1;
        } else {
          content(byte);
        }
      }
      if (!normalise) {
        // A held CR belongs to this chunk's bytes and is kept with them.
        return chunk;
      }
      if (pieces.length === 0) return chunk;
      if (from < chunk.length) pieces.push(chunk.subarray(from));
      return Buffer.concat(pieces);
    },

    end() {
      if (!heldCr) return Buffer.alloc(0);
      heldCr = false;
      lineBreak(true);
      return normalise ? CRLF : Buffer.alloc(0);
    },

    get violation() {
      return violation;
    },
  };
}
