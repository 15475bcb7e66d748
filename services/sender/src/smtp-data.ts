/**
 * A message as it goes on the wire after DATA (RFC 5321 §4.5.2): every line end CRLF, a
 * dot that starts a line doubled, and CRLF "." CRLF after it. The bytes are exactly those
 * nodemailer's DataStream writes for the same message — a bare CR or LF becomes CRLF, a dot
 * after a bare CR is doubled too (a receiver that ends lines on a lone CR must not read
 * "\r.\r" as the end of the data) — so replacing it changes nothing a receiver sees.
 *
 * DataStream looks at every byte in JavaScript. Here only the CR and LF bytes are visited,
 * found with Buffer.indexOf (a native scan; searching the message as a latin1 string would
 * cost less per search but allocate a copy of every message): stored mail has CRLF line
 * ends already (the ingress refuses or normalises bare ones), so a message without a line
 * that starts with a dot goes out as the very Buffer it was, followed by the end-of-data
 * line.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

const INSERT_CR = Buffer.from('\r');
const INSERT_LF = Buffer.from('\n');
const INSERT_LF_DOT = Buffer.from('\n.');
const INSERT_DOT = Buffer.from('.');

/** What ends the data, by the message's last byte (as DataStream's flush). */
const END_AFTER_LF = Buffer.from('.\r\n');
const END_AFTER_CR = Buffer.from('\n.\r\n');
const END_OTHERWISE = Buffer.from('\r\n.\r\n');

/**
 * The message's data as sent, in two pieces to write together: the message itself (the
 * same Buffer when nothing needs rewriting) and the end of the data.
 */
export function dataOnWire(message: Buffer): [body: Buffer, end: Buffer] {
  const length = message.length;
  const last = length === 0 ? undefined : message[length - 1];
  const end = last === LF ? END_AFTER_LF : last === CR ? END_AFTER_CR : END_OTHERWISE;
  // Bytes inserted before a position of the message, in ascending order of position.
  const pieces: Buffer[] = [];
  let copied = 0;
  const insert = (at: number, bytes: Buffer): void => {
    if (at > copied) pieces.push(message.subarray(copied, at));
    pieces.push(bytes);
    copied = at;
  };
  if (message[0] === DOT) insert(0, INSERT_DOT);
  let cr = message.indexOf(CR);
  let lf = message.indexOf(LF);
  // Every insertion is next to a CR or an LF: at the LF itself (a bare LF gets its CR),
  // right after it (a dot starting the next line), or right after a bare CR (its LF).
  while (cr >= 0 || lf >= 0) {
    if (lf < 0 || (cr >= 0 && cr < lf)) {
      const next = cr + 1;
      if (next < length && message[next] !== LF) {
        insert(next, message[next] === DOT ? INSERT_LF_DOT : INSERT_LF);
      }
      cr = message.indexOf(CR, next);
    } else {
      if (lf === 0 || message[lf - 1] !== CR) insert(lf, INSERT_CR);
      if (message[lf + 1] === DOT) insert(lf + 1, INSERT_DOT);
      lf = message.indexOf(LF, lf + 1);
    }
  }
  if (pieces.length === 0) return [message, end];
  if (copied < length) pieces.push(message.subarray(copied));
  return [Buffer.concat(pieces), end];
}
