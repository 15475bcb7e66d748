/**
 * DKIM keys as the pool declares them, checked once when the signer is built, and the pure
 * rule that picks which of them sign a message.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { normaliseDomain } from '../routing/domain.ts';
import { DkimKeyError } from './errors.ts';

/** A pool `dkim` entry with its private key already read (from the Secret or the file). */
export interface DkimKey {
  domain: string;
  selector: string;
  /** PEM (PKCS#8, or PKCS#1 for RSA), unencrypted. */
  privateKey: string | Buffer;
}

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface PreparedKey {
  /** Normalised: lower-case ASCII, no trailing dot. */
  domain: string;
  selector: string;
  privateKey: string | Buffer;
  algorithm: DkimAlgorithm;
}

/** RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits. */
export const MIN_RSA_BITS = 1024;
const SELECTOR = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/i;

function algorithmOf(key: KeyObject, domain: string, selector: string): DkimAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519-sha256';
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new DkimKeyError(
        domain,
        selector,
        `RSA key of ${bits} bits, at least ${MIN_RSA_BITS} needed`,
      );
    }
    return 'rsa-sha256';
  }
  throw new DkimKeyError(
    domain,
    selector,
    `${key.asymmetricKeyType ?? 'unknown'} key; DKIM signs with rsa or ed25519`,
  );
}

/** Checks each key and groups them by signing domain; throws DkimKeyError on the first bad one. */
export function prepareKeys(keys: readonly DkimKey[]): Map<string, PreparedKey[]> {
  const byDomain = new Map<string, PreparedKey[]>();
  for (const key of keys) {
    const domain = normaliseDomain(key.domain);
    if (domain === '') throw new DkimKeyError(key.domain, key.selector, 'invalid domain');
    if (!SELECTOR.test(key.selector)) {
      throw new DkimKeyError(domain, key.selector, 'invalid selector');
    }
    let parsed: KeyObject;
    try {
      parsed = createPrivateKey({ key: key.privateKey, format: 'pem' });
    } catch (err) {
      // The cause names the parsing problem; the key itself never reaches a message.
      throw new DkimKeyError(domain, key.selector, 'not a readable unencrypted PEM private key', {
        cause: err,
      });
    }
    const prepared: PreparedKey = {
      domain,
      selector: key.selector,
      privateKey: key.privateKey,
      algorithm: algorithmOf(parsed, domain, key.selector),
    };
    const group = byDomain.get(domain);
    if (group) group.push(prepared);
    else byDomain.set(domain, [prepared]);
  }
  return byDomain;
}

/** The domain and its parents, closest first: a.b.example -> b.example -> example. */
function selfAndParents(domain: string): string[] {
  const labels = domain.split('.');
  return labels.map((_, i) => labels.slice(i).join('.'));
}

/**
 * The domain to sign for: the header From domain, else its closest parent that has a key
 * (a parent's signature still aligns under DMARC's default relaxed mode), else the same for
 * the envelope sender's domain. Undefined when no key fits; the message then goes unsigned.
 */
export function chooseSigningDomain(
  keyDomains: ReadonlySet<string> | ReadonlyMap<string, unknown>,
  fromDomain: string | undefined,
  envelopeDomain: string | undefined,
): string | undefined {
  for (const domain of [fromDomain, envelopeDomain]) {
    if (domain === undefined || domain === '') continue;
    const found = selfAndParents(domain).find((candidate) => keyDomains.has(candidate));
    if (found !== undefined) return found;
  }
  return undefined;
}
