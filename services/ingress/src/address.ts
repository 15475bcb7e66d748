/**
 * Envelope address checks, on top of the syntax smtp-server already enforces (angle
 * brackets, one "@", no control characters, source routes dropped, no leading, trailing or
 * double dots, at most 253 octets). What is added here is what a relay that forwards the
 * address to other servers needs: RFC 5321 length limits, a real host name as domain, no
 * quoted local parts and no address literals, and SMTPUTF8 for non-ASCII local parts.
 * The result is the address in the form the rest of the relay uses: domain in lower-case
 * ASCII (smtp-server hands over IDN domains in Unicode).
 */
import { domainToASCII } from 'node:url';

export type AddressRole = 'sender' | 'recipient';

export type AddressCheck =
  | { ok: true; address: string; domain: string }
  | { ok: false; problem: string; needsSmtputf8?: boolean };

const LIMITS = { localPart: 64, domain: 253, address: 254 } as const;

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// Characters a local part may carry beyond atext and dots: none. Backslashes and quotes
// only appear in quoted local parts, which are refused (see below).
const ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters
const UNSAFE = /[\x00-\x20\x7f<>\\"]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching non-ASCII on purpose
const NON_ASCII = /[^\x00-\x7f]/;

function fail(problem: string, needsSmtputf8 = false): AddressCheck {
  return needsSmtputf8 ? { ok: false, problem, needsSmtputf8 } : { ok: false, problem };
}

/** True when the text is a host name with at least two labels, each of LDH syntax. */
export function isHostName(domain: string): boolean {
  if (domain.length === 0 || domain.length > LIMITS.domain) return false;
  const labels = domain.split('.');
  return labels.length >= 2 && labels.every((label) => LABEL.test(label));
}

/**
 * Checks an address as smtp-server parsed it from MAIL FROM or RCPT TO. The empty
 * address is the null sender, valid only as a sender.
 */
export function checkAddress(
  raw: string,
  options: { role: AddressRole; smtputf8: boolean },
): AddressCheck {
  if (raw === '') {
    return options.role === 'sender'
      ? { ok: true, address: '', domain: '' }
      : fail('an empty recipient');
  }
  if (UNSAFE.test(raw)) return fail('control characters, spaces, quotes or brackets');
  const at = raw.lastIndexOf('@');
  if (at <= 0) return fail('no domain');
  const local = raw.slice(0, at);
  const domainPart = raw.slice(at + 1);
  if (local.includes('@')) return fail('more than one @');
  if (domainPart.startsWith('[')) return fail('address literals are not accepted');
  if (Buffer.byteLength(local) > LIMITS.localPart) {
    return fail(`local part longer than ${LIMITS.localPart} octets`);
  }
  if (NON_ASCII.test(local)) {
    if (!options.smtputf8) return fail('non-ASCII local part without SMTPUTF8', true);
  } else if (!ATEXT.test(local)) {
    return fail('local part syntax');
  }
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return fail('local part dots');
  }
  const domain = NON_ASCII.test(domainPart) ? domainToASCII(domainPart) : domainPart.toLowerCase();
  if (!isHostName(domain)) return fail('domain is not a host name');
  const address = `${local}@${domain}`;
  if (Buffer.byteLength(address) > LIMITS.address) {
    return fail(`address longer than ${LIMITS.address} octets`);
  }
  return { ok: true, address, domain };
}
