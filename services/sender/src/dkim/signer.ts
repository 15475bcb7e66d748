/**
 * DKIM signing of outgoing mail (RFC 6376, Ed25519 per RFC 8463): the signer picks the key by
 * the message's From domain, signs with relaxed/relaxed canonicalisation and prepends the
 * DKIM-Signature fields. The message itself — headers and body — is never altered.
 */

import { DkimSignError } from './errors.ts';
import { domainOfAddress, parseFromDomain } from './from-domain.ts';
import { chooseSigningDomain, type DkimKey, prepareKeys } from './keys.ts';
import { dkimSign } from './mailauth.ts';

/**
 * Fields signed when present. Covering List-Unsubscribe and List-Unsubscribe-Post is what
 * RFC 8058 one-click unsubscribe requires, and large mailbox providers check it.
 */
export const SIGNED_HEADERS: readonly string[] = [
  'from',
  'sender',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'to',
  'cc',
  'in-reply-to',
  'references',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-id',
  'content-description',
  'resent-date',
  'resent-from',
  'resent-sender',
  'resent-to',
  'resent-cc',
  'resent-message-id',
  'list-id',
  'list-help',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-subscribe',
  'list-post',
  'list-owner',
  'list-archive',
  'feedback-id',
  'bimi-selector',
];

export interface DkimSignerOptions {
  /** Milliseconds since the epoch, for the t= tag; the system clock when absent. */
  clock?: { now(): number };
  /** Replaces SIGNED_HEADERS. */
  headers?: readonly string[];
}

export interface DkimEnvelope {
  /** The envelope sender (MAIL FROM); empty or "<>" for a bounce. */
  mailFrom?: string;
}

export interface DkimSigner {
  /**
   * The message with DKIM-Signature fields prepended — one per key of the chosen domain, so
   * an RSA and an Ed25519 key for one domain both sign — or the very same Buffer when no
   * key fits. Throws DkimSignError rather than return a message it meant to sign unsigned.
   */
  sign(message: Buffer, envelope?: DkimEnvelope): Promise<Buffer>;
  /** The domain sign() would sign for, or undefined; for logs and tests. */
  signingDomain(message: Buffer, envelope?: DkimEnvelope): string | undefined;
}

/** Whether an empty line ends the header section somewhere. */
function hasHeaderEnd(message: Buffer): boolean {
  return message.includes('\r\n\r\n') || message.includes('\n\n');
}

/**
 * A message of headers only is signed as if its (empty) body followed an empty line, which
 * is how a verifier reads it; without that mailauth never sees the end of the headers.
 */
function signable(message: Buffer): Buffer {
  if (hasHeaderEnd(message)) return message;
  const tail = message.subarray(-2).toString('latin1');
  return Buffer.concat([message, Buffer.from(tail.endsWith('\n') ? '\r\n' : '\r\n\r\n')]);
}

/** Bare-LF messages get bare-LF signature fields, so that one message keeps one convention. */
function matchLineEndings(fields: string, message: Buffer): string {
  const lf = message.indexOf('\n');
  const bareLf = lf >= 0 && (lf === 0 || message[lf - 1] !== 0x0d);
  return bareLf ? fields.replace(/\r\n/g, '\n') : fields;
}

export function createDkimSigner(
  keys: readonly DkimKey[],
  options: DkimSignerOptions = {},
): DkimSigner {
  const byDomain = prepareKeys(keys);
  const clock = options.clock ?? { now: () => Date.now() };
  const headerList = (options.headers ?? SIGNED_HEADERS).join(':');

  const signingDomain = (message: Buffer, envelope?: DkimEnvelope): string | undefined => {
    if (byDomain.size === 0) return undefined;
    const mailFrom = envelope?.mailFrom;
    const envelopeDomain = mailFrom ? domainOfAddress(mailFrom) : undefined;
    return chooseSigningDomain(byDomain, parseFromDomain(message), envelopeDomain);
  };

  return {
    signingDomain,
    async sign(message, envelope) {
      const domain = signingDomain(message, envelope);
      const domainKeys = domain === undefined ? undefined : byDomain.get(domain);
      if (domain === undefined || !domainKeys) return message;

      let result: Awaited<ReturnType<typeof dkimSign>>;
      try {
        result = await dkimSign(signable(message), {
          canonicalization: 'relaxed/relaxed',
          signTime: new Date(clock.now()),
          headerList,
          signatureData: domainKeys.map((key) => ({
            signingDomain: key.domain,
            selector: key.selector,
            privateKey: key.privateKey,
            algorithm: key.algorithm,
          })),
        });
      } catch (err) {
        throw new DkimSignError(domain, 'the signer failed', { cause: err });
      }
      const [first] = result.errors;
      if (first) {
        throw new DkimSignError(domain, `selector ${first.selector ?? '?'}: ${first.err.message}`, {
          cause: first.err,
        });
      }
      if (!result.signatures.startsWith('DKIM-Signature:')) {
        throw new DkimSignError(domain, 'no signature was produced');
      }
      return Buffer.concat([Buffer.from(matchLineEndings(result.signatures, message)), message]);
    },
  };
}
