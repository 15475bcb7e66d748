/**
 * The header fields the relay adds, all in front of the message: the Received: trace field
 * (RFC 5321 §4.4) and, when the client left them out, Date: and Message-ID: (RFC 5322
 * §3.6 requires Date; Message-ID is expected everywhere). The client's bytes follow
 * unchanged, so a DKIM signature made by the client still verifies.
 */
import { isIPv6 } from 'node:net';
import { MESSAGE_ID_MAX } from '@hikyaku/core';

export interface TraceInfo {
  clientHelo: string;
  clientAddress: string;
  hostname: string;
  queueId: string;
  /** TLS version and cipher of the session, when it is encrypted. */
  tls?: { version?: string; cipher?: string };
  authenticated: boolean;
  rcpts: readonly string[];
  now: Date;
}

/** A date as RFC 5322 writes it, in UTC: "Mon, 30 Nov 2026 00:00:00 +0000". */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

/** The header section of a message: up to the first empty line, or all of it. */
export function headerSection(message: Buffer): string {
  if (message.subarray(0, 2).toString('latin1') === '\r\n') return '';
  const end = message.indexOf('\r\n\r\n');
  return message.subarray(0, end < 0 ? message.length : end + 2).toString('latin1');
}

/** Which of the fields the relay supplies are missing from the client's header section. */
export function missingFields(message: Buffer): { date: boolean; messageId: boolean } {
  const header = headerSection(message);
  return {
    date: !/^date[ \t]*:/im.test(header),
    messageId: !/^message-id[ \t]*:/im.test(header),
  };
}

/**
 * The Message-ID of the client's header section, unfolded, without angle brackets; the
 * first one when there are several. Undefined when there is none.
 */
export function messageIdOf(message: Buffer): string | undefined {
  const header = headerSection(message).replace(/\r\n[ \t]+/g, ' ');
  const value = /^message-id[ \t]*:(.*)$/im.exec(header)?.[1];
  const id = value
    ?.trim()
    .replace(/^<\s*/, '')
    .replace(/\s*>.*$/, '');
  return id ? id.slice(0, MESSAGE_ID_MAX) : undefined;
}

export function receivedHeader(info: TraceInfo): string {
  // RFC 3848 protocol names: ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA (both).
  const protocol = `ESMTP${info.tls ? 'S' : ''}${info.authenticated ? 'A' : ''}`;
  const tls = info.tls
    ? ` (using ${info.tls.version ?? 'TLS'} with cipher ${info.tls.cipher ?? 'unknown'})`
    : '';
  const literal = isIPv6(info.clientAddress) ? `IPv6:${info.clientAddress}` : info.clientAddress;
  // Naming the recipient is only safe when there is one: otherwise every copy would
  // disclose the other recipients.
  const forClause = info.rcpts.length === 1 ? `\r\n\tfor <${info.rcpts[0]}>` : '';
  return (
    `Received: from ${info.clientHelo || 'unknown'} ([${literal}])\r\n` +
    `\tby ${info.hostname} (hikyaku) with ${protocol}${tls}\r\n` +
    `\tid ${info.queueId}${forClause};\r\n` +
    `\t${rfc5322Date(info.now)}\r\n`
  );
}

/** Everything the relay puts in front of the client's message. */
export function addedHeaders(message: Buffer, info: TraceInfo): Buffer {
  const missing = missingFields(message);
  let text = receivedHeader(info);
  if (missing.date) text += `Date: ${rfc5322Date(info.now)}\r\n`;
  if (missing.messageId) text += `Message-ID: <${info.queueId}@${info.hostname}>\r\n`;
  return Buffer.from(text, 'latin1');
}
