/**
 * Delivery status notifications (RFC 3464): the message the envelope sender gets when
 * recipients failed or are delayed, or when a recipient that asked for a success report
 * (NOTIFY=SUCCESS, RFC 3461) was relayed to a server that will not send one. A DSN is sent
 * from the null sender <> so that it can never bounce back, carries Auto-Submitted:
 * auto-replied (RFC 3834), and is only sent about a message that is not itself a DSN or an
 * automatic reply (shouldSendDsn): two relays bouncing each other's bounces is the mail
 * loop this module exists to prevent.
 *
 * The builder is pure: time comes in as `now`, the MIME boundary and Message-ID come
 * from `rng`. It is async only because nodemailer's MimeNode builds asynchronously.
 */

import type { DsnNotify } from '../contract/messages.ts';
import { PolicyArgumentError } from './errors.ts';
import {
  bareAddress,
  firstHeader,
  type HeaderInput,
  headerBlock,
  localPart,
  parseHeaderBlock,
  toHeaderMap,
} from './mail-headers.ts';
import { isEnhancedCode } from './smtp-reply.ts';

export interface DsnRecipient {
  /** The address as given in RCPT TO. */
  recipient: string;
  /** ORCPT (RFC 3461) when the client gave one, e.g. "rfc822;a@example.org". */
  originalRecipient?: string;
  /**
   * failed and delayed: 4.x.x or 5.x.x. relayed (RFC 3464 §2.3.3): handed to a next hop
   * that does not offer DSN, so no further success report will come; 2.x.x.
   */
  action: 'failed' | 'delayed' | 'relayed';
  /** Enhanced status code: "5.1.1", 4.4.7 for a message given up at its maximum age, 2.0.0. */
  status: string;
  /** The MX that answered, when one did. */
  remoteMta?: string;
  /**
   * The remote reply, when there was one: its code, its enhanced code when the sender
   * parsed it out, and its text (which may still start with the enhanced code).
   */
  diagnostic?: { code: number; enhancedCode?: string; text: string };
  lastAttemptAt?: number;
  /** For delayed recipients: when delivery will be given up. */
  willRetryUntil?: number;
}

export interface DsnInput {
  /** This relay's host name, as in Reporting-MTA and the From address. */
  reportingMta: string;
  /** The original envelope sender: the DSN's recipient. */
  envelopeFrom: string;
  /** ENVID (RFC 3461), when the client gave one. */
  envelopeId?: string;
  /** Epoch ms the original message was accepted. */
  arrivalDate: number;
  now: number;
  /** The original message's header block (or its whole head: the body is cut off). */
  originalHeaders: string | Buffer;
  recipients: readonly DsnRecipient[];
  rng: () => number;
  /** From header; "Mail Delivery System <MAILER-DAEMON@reportingMta>" when absent. */
  from?: string;
}

export interface Dsn {
  raw: Buffer;
  /** SMTP envelope: from '' is the null sender, sent as MAIL FROM:<>. */
  envelope: { from: ''; to: [string] };
  messageId: string;
}

export type DsnRefusal = 'null-sender' | 'mailer-daemon' | 'auto-submitted' | 'delivery-report';

export type DsnDecision = { send: true } | { send: false; reason: DsnRefusal };

const DAEMON_LOCAL_PARTS = new Set([
  'mailer-daemon',
  'mailer_daemon',
  'mailerdaemon',
  'postmaster',
  'double-bounce',
]);

/**
 * Whether a DSN may be sent about a message: never to the null sender, never to or from a
 * mailer daemon or postmaster, never about an automatic message (Auto-Submitted other
 * than "no") or about a delivery report itself.
 */
export function shouldSendDsn(envelopeFrom: string, headers: HeaderInput): DsnDecision {
  const sender = bareAddress(envelopeFrom);
  if (sender === '') return { send: false, reason: 'null-sender' };
  const map = toHeaderMap(headers);
  const fromHeader = bareAddress(firstHeader(map, 'from') ?? '');
  if (DAEMON_LOCAL_PARTS.has(localPart(sender)) || DAEMON_LOCAL_PARTS.has(localPart(fromHeader))) {
    return { send: false, reason: 'mailer-daemon' };
  }
  const autoSubmitted = firstHeader(map, 'auto-submitted')?.split(';')[0]?.trim().toLowerCase();
  if (autoSubmitted !== undefined && autoSubmitted !== 'no') {
    return { send: false, reason: 'auto-submitted' };
  }
  const contentType = firstHeader(map, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  if (
    contentType === 'multipart/report' ||
    contentType === 'message/delivery-status' ||
    map.has('x-failed-recipients')
  ) {
    return { send: false, reason: 'delivery-report' };
  }
  return { send: true };
}

/** Builds the DSN; throws PolicyArgumentError for input no DSN can be made from. */
export async function buildDsn(input: DsnInput): Promise<Dsn> {
  const to = bareAddress(input.envelopeFrom);
  if (to === '') throw new PolicyArgumentError('a DSN cannot be sent to the null sender');
  if (input.recipients.length === 0) throw new PolicyArgumentError('a DSN needs recipients');
  for (const r of input.recipients) {
    // A success is reported with a success status, anything else never with one.
    if (!isEnhancedCode(r.status) || r.status.startsWith('2.') !== (r.action === 'relayed')) {
      throw new PolicyArgumentError(
        `bad DSN status ${JSON.stringify(r.status)} for ${r.recipient} (${r.action})`,
      );
    }
  }
  const messageId = `<${hex(input.rng, 16)}.dsn@${input.reportingMta}>`;
  const failed = input.recipients.some((r) => r.action === 'failed');
  const delayed = input.recipients.some((r) => r.action === 'delayed');
  const original = headerBlock(input.originalHeaders);
  const originalId = firstHeader(parseHeaderBlock(original), 'message-id');

  // Loaded at the first DSN, not with the package: nodemailer's MIME builder and its
  // charset tables would otherwise sit in every process that loads the policy modules.
  const { default: MimeNode } = await import('nodemailer/lib/mime-node');
  const root = new MimeNode('multipart/report; report-type=delivery-status', {
    baseBoundary: hex(input.rng, 8),
    newline: 'win',
    hostname: input.reportingMta,
  });
  root.setHeader({
    From: input.from ?? `Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    To: to,
    Subject: failed
      ? 'Undelivered Mail Returned to Sender'
      : delayed
        ? 'Delayed Mail (still being retried)'
        : 'Successful Mail Delivery Report',
    Date: new Date(input.now),
    'Message-ID': messageId,
    'Auto-Submitted': 'auto-replied',
  });
  if (originalId !== undefined)
    root.setHeader({ 'In-Reply-To': originalId, References: originalId });
  root.setEnvelope({ from: false, to: [to] });
  root.createChild('text/plain; charset=utf-8').setContent(humanReadable(input));
  root.createChild('message/delivery-status').setContent(deliveryStatus(input));
  root.createChild('text/rfc822-headers').setContent(original);

  return { raw: await root.build(), envelope: { from: '', to: [to] }, messageId };
}

function humanReadable(input: DsnInput): string {
  const lines = [`This is the mail relay at ${input.reportingMta}.`, ''];
  const failed = input.recipients.filter((r) => r.action === 'failed');
  const delayed = input.recipients.filter((r) => r.action === 'delayed');
  if (failed.length > 0) {
    lines.push('Your message could not be delivered to the following recipients.', '');
    for (const r of failed) lines.push(...describe(r), '');
  }
  if (delayed.length > 0) {
    lines.push(
      'Delivery to the following recipients has been delayed. Nothing needs to',
      'be done yet: delivery is still being retried.',
      '',
    );
    for (const r of delayed) lines.push(...describe(r), '');
  }
  const relayed = input.recipients.filter((r) => r.action === 'relayed');
  if (relayed.length > 0) {
    lines.push(
      'Your message was handed to the mail server of the following recipients. That',
      'server does not send delivery notifications: you will get no report of the',
      'delivery to the mailbox, though it may still report a failure.',
      '',
    );
    for (const r of relayed) lines.push(...describe(r), '');
  }
  lines.push('The headers of your message are attached; its body is not included.');
  return `${lines.join('\r\n')}\r\n`;
}

function describe(r: DsnRecipient): string[] {
  const out = [`  <${r.recipient}>`];
  if (r.status === '4.4.7' && r.action === 'failed') {
    out.push('    Delivery was given up: the message reached its maximum age.');
  }
  if (r.diagnostic !== undefined) {
    const where = r.remoteMta === undefined ? 'The remote server' : `The server ${r.remoteMta}`;
    out.push(`    ${where} answered:`, `    ${diagnosticText(r)}`);
  }
  if (r.willRetryUntil !== undefined) {
    out.push(`    Delivery will be retried until ${rfc5322Date(r.willRetryUntil)}.`);
  }
  return out;
}

function deliveryStatus(input: DsnInput): string {
  const blocks: string[][] = [
    [
      `Reporting-MTA: dns; ${ascii(input.reportingMta)}`,
      ...(input.envelopeId === undefined
        ? []
        : [`Original-Envelope-Id: ${ascii(input.envelopeId)}`]),
      `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
    ],
  ];
  for (const r of input.recipients) {
    const block: string[] = [];
    if (r.originalRecipient !== undefined) {
      block.push(`Original-Recipient: ${ascii(r.originalRecipient)}`);
    }
    block.push(`Final-Recipient: ${addressField(r.recipient)}`);
    block.push(`Action: ${r.action}`, `Status: ${r.status}`);
    if (r.remoteMta !== undefined) block.push(`Remote-MTA: dns; ${ascii(r.remoteMta)}`);
    if (r.diagnostic !== undefined) block.push(`Diagnostic-Code: smtp; ${diagnosticText(r)}`);
    if (r.lastAttemptAt !== undefined) {
      block.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
    }
    if (r.action === 'delayed' && r.willRetryUntil !== undefined) {
      block.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    }
    blocks.push(block);
  }
  return `${blocks.map((b) => b.map(fold).join('\r\n')).join('\r\n\r\n')}\r\n`;
}

/**
 * Whether a recipient's NOTIFY (RFC 3461 §4.1) asks for a report of this kind. Without
 * NOTIFY, failures and delays are reported and successes are not, as Postfix does.
 */
export function notifyWants(
  notify: readonly DsnNotify[] | undefined,
  kind: Exclude<DsnNotify, 'NEVER'>,
): boolean {
  if (notify === undefined) return kind !== 'SUCCESS';
  return notify.includes(kind);
}

/**
 * xtext (RFC 3461 §4): the encoding of ENVID and ORCPT values on the wire. Printable
 * ASCII other than "+" and "=" stands for itself; every other octet of the UTF-8 form is
 * "+" and two upper-case hex digits.
 */
export function encodeXtext(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out +=
      byte > 0x20 && byte < 0x7f && byte !== 0x2b && byte !== 0x3d
        ? String.fromCharCode(byte)
        : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * An ORCPT value as it goes on the wire: the address type as it is, the address in xtext
 * (RFC 3461 §4.2: `addr-type ";" xtext`).
 */
export function encodeOrcpt(orcpt: string): string {
  const semicolon = orcpt.indexOf(';');
  if (semicolon < 0) return encodeXtext(orcpt);
  return `${orcpt.slice(0, semicolon)};${encodeXtext(orcpt.slice(semicolon + 1))}`;
}

/**
 * The reply as the server gave it, "550 5.1.1 text". It is never rewritten with the DSN
 * status: an expired recipient has Status 4.4.7 while its last reply said 4.7.0.
 */
function diagnosticText(r: DsnRecipient): string {
  if (r.diagnostic === undefined) return '';
  const { code, enhancedCode } = r.diagnostic;
  const text = ascii(r.diagnostic.text.replace(/\s+/g, ' ').trim());
  const carried = /^[245]\.\d{1,3}\.\d{1,3}\b/.test(text);
  const prefix = enhancedCode === undefined || carried ? '' : `${ascii(enhancedCode)} `;
  return `${code} ${prefix}${text}`.trim();
}

/** rfc822 for an ASCII address; utf-8 with \x{HEX} escapes (RFC 6533) otherwise. */
function addressField(address: string): string {
  if (/^[\x21-\x7e]+$/.test(address)) return `rfc822; ${address}`;
  const escaped = [...address]
    .map((c) => {
      const point = c.codePointAt(0) ?? 0;
      return point < 0x21 || point > 0x7e || c === '\\' || c === '+' || c === '='
        ? `\\x{${point.toString(16).toUpperCase()}}`
        : c;
    })
    .join('');
  return `utf-8; ${escaped}`;
}

/** Delivery-status fields are US-ASCII: anything else, and control characters, become '?'. */
function ascii(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?');
}

/** Header-style folding at spaces, so a long Diagnostic-Code stays within 78 columns. */
function fold(line: string): string {
  if (line.length <= 78) return line;
  const words = line.split(' ');
  const out: string[] = [];
  let current = '';
  for (const word of words) {
    if (current !== '' && current.length + 1 + word.length > 78) {
      out.push(current);
      current = ` ${word}`;
    } else {
      current = current === '' ? word : `${current} ${word}`;
    }
  }
  out.push(current);
  return out.join('\r\n');
}

function rfc5322Date(ms: number): string {
  // toUTCString gives "Sun, 01 Nov 2026 09:00:00 GMT"; RFC 5322 prefers a numeric zone.
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

function hex(rng: () => number, bytes: number): string {
  let out = '';
  for (let i = 0; i < bytes; i++) {
    const r = rng();
    if (!(r >= 0 && r < 1)) throw new PolicyArgumentError(`rng must return [0, 1), got ${r}`);
    out += Math.floor(r * 256)
      .toString(16)
      .padStart(2, '0');
  }
  return out;
}
