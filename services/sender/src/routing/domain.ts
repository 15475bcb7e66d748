/**
 * Domain names as routing compares them: DNS names are case-insensitive, "example.com." and
 * "example.com" are the same name, and an internationalised domain is looked up in its
 * ASCII (punycode) form, so every comparison and cache key goes through one normalisation.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** Lower-case ASCII form without the trailing dot; '' when the name is not a valid domain. */
export function normaliseDomain(domain: string): string {
  const trimmed = domain.trim().replace(/\.$/, '');
  if (trimmed === '') return '';
  return domainToASCII(trimmed);
}

/**
 * The address of an RFC 5321 address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"), or
 * undefined when the domain is a name. Mail to a literal goes to that address, without DNS.
 */
export function addressLiteral(domain: string): string | undefined {
  const match = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain.trim());
  const inner = match?.[1];
  if (inner === undefined) return undefined;
  const family = isIP(inner);
  const tagged = /^\[ipv6:/i.test(domain.trim());
  if (family === 4 && !tagged) return inner;
  if (family === 6 && tagged) return inner.toLowerCase();
  return undefined;
}
