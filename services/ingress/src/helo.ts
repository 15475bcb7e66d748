/**
 * The name a client gives in EHLO or HELO. RFC 5321 §4.1.1.1 makes it a domain or an
 * address literal, and the client sends it before it knows whether the server offers
 * SMTPUTF8, so an internationalised name is sent as A-labels (`xn--…`) there too. A name
 * with other characters is refused with 501 5.5.2, as Postfix' reject_invalid_helo_hostname
 * does: it would otherwise go into the Received: field of every message of the session.
 * Only the characters are checked, not the syntax: many legitimate clients send a bare
 * host name ("localhost", "build_7"), and the relay does not judge clients by it.
 */

/** True when the name is printable ASCII (smtp-server already bounds its length). */
export function acceptableHelo(name: string): boolean {
  return /^[\x21-\x7e]+$/.test(name);
}
