/**
 * The header fields the relay adds, all in front of the message: the Received: trace field
 * (RFC 5321 §4.4) and, when the client left them out, Date: and Message-ID: (RFC 5322
 * §3.6 requires Date; Message-ID is expected everywhere). The client's bytes follow
 * unchanged, so a DKIM signature made by the client still verifies.
 *
 * The fields are written as UTF-8 from values that cannot end a line: every value that
 * comes from a client goes through `headerValue`, so whatever it contains, the bytes
 * written hold no CR, LF or other control and the fields stay the fields written here.
 */
import { MESSAGE_ID_MAX } from '@hikyaku/core';

export interface TraceInfo {
  clientHelo: string;
  clientAddress: string;
  hostname: string;
  queueId: string;
  /** TLS version and cipher of the session, when it is encrypted. */
  tls?: { version?: string; cipher?: string };
  authenticated: boolean;
  /** The transaction used SMTPUTF8 (RFC 6531): its addresses may be UTF-8. */
  smtputf8?: boolean;
  rcpts: readonly string[];
  /** When the message was received, as RFC 5322 writes a date (rfc5322Date, dateLine). */
  date: string;
}

/**
 * What may stand in a header the relay writes: printable ASCII, and with `utf8` any other
 * character except controls (C1 included) and the Unicode line and paragraph separators,
 * which some readers take for line ends. A lone surrogate cannot be written as UTF-8.
 */
const UNSAFE_ASCII = /[^\x21-\x7e]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters
const UNSAFE_UTF8 = /[\x00-\x20\x7f-\x9f\u2028\u2029\ufeff]|\p{Cs}/gu;

/** A value from a client as a header may carry it: anything unsafe becomes "?". */
export function headerValue(value: string, options: { utf8: boolean }): string {
  return value.replace(options.utf8 ? UNSAFE_UTF8 : UNSAFE_ASCII, '?');
}

/** A date as RFC 5322 writes it, in UTC: "Mon, 30 Nov 2026 00:00:00 +0000". */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

/**
 * rfc5322Date for a clock in milliseconds, formatted once per second: every message
 * received within one second carries the same text, so a busy ingress formats it about
 * once a second rather than once per message. The text is always that of the second
 * asked for, whichever way the clock moved since the last call.
 */
export function dateLine(): (ms: number) => string {
  let second = Number.NaN;
  let text = '';
  return (ms) => {
    const at = Math.floor(ms / 1000);
    if (at !== second) {
      second = at;
      text = rfc5322Date(new Date(at * 1000));
    }
    return text;
  };
}

/** The header section of a message: up to the first empty line, or all of it. */
export function headerSection(message: Buffer): string {
  if (message.subarray(0, 2).toString('latin1') === '\r\n') return '';
  const end = message.indexOf('\r\n\r\n');
  return message.subarray(0, end < 0 ? message.length : end + 2).toString('latin1');
}

const END_OF_HEADER = Buffer.from('\r\n\r\n');

/**
 * The first pieces of a message: enough to hold its header section (the whole message
 * only when it has no empty line), so that the message itself is joined once. The first
 * piece itself when it holds the empty line, as it mostly does: nothing is copied then.
 */
export function messageHead(chunks: readonly Buffer[]): Buffer {
  let count = 0;
  let tail = Buffer.alloc(0);
  for (const chunk of chunks) {
    count++;
    if (chunk.includes(END_OF_HEADER)) break;
    // The empty line may straddle two pieces: look at the end of the last one as well.
    if (tail.length > 0) {
      const seam = Buffer.concat([tail, chunk.subarray(0, END_OF_HEADER.length - 1)]);
      if (seam.includes(END_OF_HEADER)) break;
    }
    tail = Buffer.concat([tail, chunk]).subarray(-(END_OF_HEADER.length - 1));
  }
  if (count === 1 && chunks[0]) return chunks[0];
  return Buffer.concat(chunks.slice(0, count));
}

/**
 * A message, or its header section already read (headerSection): the functions below
 * take either, so a message's header is converted once for all of them.
 */
export type MessageOrHeader = Buffer | string;

function headerOf(message: MessageOrHeader): string {
  return typeof message === 'string' ? message : headerSection(message);
}

/** Which of the fields the relay supplies are missing from the client's header section. */
export function missingFields(message: MessageOrHeader): { date: boolean; messageId: boolean } {
  const header = headerOf(message);
  return {
    date: !/^date[ \t]*:/im.test(header),
    messageId: !/^message-id[ \t]*:/im.test(header),
  };
}

/**
 * The Message-ID of the client's header section, unfolded, without angle brackets; the
 * first one when there are several. Undefined when there is none.
 */
export function messageIdOf(message: MessageOrHeader): string | undefined {
  const header = headerOf(message).replace(/\r\n[ \t]+/g, ' ');
  const value = /^message-id[ \t]*:(.*)$/im.exec(header)?.[1];
  const id = value
    ?.trim()
    .replace(/^<\s*/, '')
    .replace(/\s*>.*$/, '');
  return id ? id.slice(0, MESSAGE_ID_MAX) : undefined;
}

export function receivedHeader(info: TraceInfo): string {
  const ascii = { utf8: false };
  // RFC 3848 protocol names: ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA (both); RFC 6531
  // §4.3 names the same with UTF8SMTP for a transaction that used SMTPUTF8.
  const base = info.smtputf8 ? 'UTF8SMTP' : 'ESMTP';
  const protocol = `${base}${info.tls ? 'S' : ''}${info.authenticated ? 'A' : ''}`;
  const tls = info.tls
    ? ` (using ${headerValue(info.tls.version ?? 'TLS', ascii)} with cipher ${headerValue(
        info.tls.cipher ?? 'unknown',
        ascii,
      )})`
    : '';
  // The address is a socket's, as smtp-server normalised it: only an IPv6 one has a colon.
  const literal = info.clientAddress.includes(':')
    ? `IPv6:${info.clientAddress}`
    : info.clientAddress;
  // The EHLO name is ASCII (the relay refuses others); it is cleaned again all the same,
  // since a trace field must never become a way to write other fields.
  const helo = headerValue(info.clientHelo, ascii) || 'unknown';
  // Naming the recipient is only safe when there is one: otherwise every copy would
  // disclose the other recipients. A UTF-8 address is written as UTF-8 (RFC 6531 §4.4),
  // which only a transaction with SMTPUTF8 may carry.
  const [rcpt] = info.rcpts;
  const forClause =
    info.rcpts.length === 1 && rcpt
      ? `\r\n\tfor <${headerValue(rcpt, { utf8: Boolean(info.smtputf8) })}>`
      : '';
  return (
    `Received: from ${helo} ([${headerValue(literal, ascii)}])\r\n` +
    `\tby ${headerValue(info.hostname, ascii)} (hikyaku) with ${protocol}${tls}\r\n` +
    `\tid ${headerValue(info.queueId, ascii)}${forClause};\r\n` +
    `\t${info.date}\r\n`
  );
}

/** Everything the relay puts in front of the client's message, as UTF-8. */
export function addedHeaders(message: MessageOrHeader, info: TraceInfo): Buffer {
  const missing = missingFields(message);
  let text = receivedHeader(info);
  if (missing.date) text += `Date: ${info.date}\r\n`;
  if (missing.messageId) {
    const ascii = { utf8: false };
    text += `Message-ID: <${headerValue(info.queueId, ascii)}@${headerValue(info.hostname, ascii)}>\r\n`;
  }
  return Buffer.from(text, 'utf8');
}
