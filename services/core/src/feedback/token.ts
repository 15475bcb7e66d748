/**
 * The return path the relay owns: `b+<message id>.<mac>@<bounce domain>`, one per message
 * and recipient (VERP). The MAC is an HMAC-SHA256 over the pool, the message id and the
 * recipient, so a report that comes back to it can be tied to the message and recipient it
 * is about, and nobody without the pool's key can make an address that suppresses someone.
 *
 * Some MTAs lower-case the local part of the return path, so the MAC covers lower-cased
 * values and is written in lower-case base32; the message id is kept as sent, and a
 * lower-cased one still verifies (events then carry it lower-cased).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The local-part prefix of every return path the relay writes. */
export const RETURN_PATH_PREFIX = 'b+';

/** Bytes of the MAC kept: 80 bits, 16 base32 characters; the local part stays under 64. */
const MAC_BYTES = 10;

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** The key one pool signs with, derived from the secret the user gave: one secret may serve several pools. */
export function deriveReturnPathKey(secret: string | Buffer, pool: string): Buffer {
  return createHmac('sha256', secret).update(`hikyaku return path\n${pool}`).digest();
}

function mac(key: Uint8Array, pool: string, id: string, rcpt: string): string {
  const digest = createHmac('sha256', key)
    .update(`${pool.toLowerCase()}\n${id.toLowerCase()}\n${rcpt.trim().toLowerCase()}`)
    .digest();
  return base32(digest.subarray(0, MAC_BYTES));
}

export interface ReturnPathInput {
  key: Uint8Array;
  pool: string;
  /** The message id the ingress gave (nuid: letters and digits). */
  id: string;
  rcpt: string;
  bounceDomain: string;
}

/** The envelope sender a message to one recipient is sent with. */
export function returnPathAddress(input: ReturnPathInput): string {
  const token = `${input.id}.${mac(input.key, input.pool, input.id, input.rcpt)}`;
  return `${RETURN_PATH_PREFIX}${token}@${input.bounceDomain}`;
}

export interface ReturnPathToken {
  id: string;
  mac: string;
}

const TOKEN = /^b\+([0-9A-Za-z]{1,40})\.([a-z2-7]{16})$/i;

/**
 * The token in a return path's local part, when it has the form the relay writes; whether
 * it is genuine is verifyReturnPath's to say.
 */
export function parseReturnPath(address: string): ReturnPathToken | undefined {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const match = TOKEN.exec(local.trim());
  if (!match) return undefined;
  return { id: match[1] as string, mac: (match[2] as string).toLowerCase() };
}

/** True when the token was made by this key for this pool, message and recipient. */
export function verifyReturnPath(
  key: Uint8Array,
  pool: string,
  token: ReturnPathToken,
  rcpt: string,
): boolean {
  const expected = Buffer.from(mac(key, pool, token.id, rcpt));
  const given = Buffer.from(token.mac.toLowerCase());
  return expected.length === given.length && timingSafeEqual(expected, given);
}
