/**
 * Reading a feedback message: what kind of report it is and what it says, without deciding
 * anything. MIME is parsed by mailparser; the report parts (RFC 3464 delivery-status,
 * RFC 5965 feedback-report) are header blocks read with the relay's own header reader. The
 * returned message's own header block (where the return path and the recipient are) is
 * taken with mailsplit, since mailparser folds an inline message/rfc822 part into the text.
 *
 *   - multipart/report; report-type=delivery-status: one entry per recipient block.
 *   - multipart/report; report-type=feedback-report: a complaint (ARF).
 *   - a message from a mailer daemon, or with a bounce-like subject, with no report part:
 *     a non-standard bounce; its text is searched for the failed address and the reply.
 *   - anything else: `other`.
 */
import { finished } from 'node:stream/promises';
import {
  bareAddress,
  firstHeader,
  type HeaderMap,
  parseHeaderBlock,
} from '../policy/mail-headers.ts';

export interface ReportedRecipient {
  /** Addresses the report gives for this recipient (Final-Recipient, Original-Recipient, ...). */
  addresses: string[];
  /** RFC 3464 Action, lower case: failed, delayed, delivered, relayed, expanded. */
  action: string;
  /** Enhanced status code (Status field), when given. */
  status?: string;
  /** The remote reply (Diagnostic-Code without its type), when given. */
  diagnostic?: string;
  remoteMta?: string;
}

export interface ParsedComplaint {
  /** Feedback-Type, lower case: abuse, fraud, virus, other, not-spam, ... */
  feedbackType: string;
  /** Source-IP: the address that sent the reported message (one of the pool's IPs). */
  sourceIp?: string;
  /** Addresses that may be the complaining recipient (Original-Rcpt-To, the message's To). */
  addresses: string[];
  /** Domain of the reported message's From header, lower case. */
  fromDomain?: string;
  userAgent?: string;
}

export type FeedbackFormat = 'rfc3464' | 'text-bounce' | 'arf' | 'other';

export interface ParsedFeedback {
  format: FeedbackFormat;
  /** Delivery reports: one entry per recipient block (text bounces: one entry). */
  recipients: ReportedRecipient[];
  complaint?: ParsedComplaint;
  /**
   * Envelope senders the report says the original message had: Original-Mail-From, the
   * returned message's Return-Path. Where the relay's token is found when the report was
   * not sent to the return path itself (complaint addresses).
   */
  returnPaths: string[];
}

const DAEMON = /^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounces?)@/i;
const BOUNCE_SUBJECT =
  /undeliver|returned mail|delivery (status notification|failure|has failed|failed)|failure notice|mail delivery (failed|subsystem|system)|non[- ]?delivery|could not be delivered/i;
// Local parts are bounded (64, RFC 5321) so the search stays linear on any text.
const ADDRESS =
  /<?([^\s<>()[\]"',;:@]{1,64}@[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)+)>?/gi;
/** A reply in a text bounce: "550 5.1.1 ...", "550-5.1.1 ...", "550 ...", or "5.1.1 ...". */
const REPLY_LINE =
  /\b([45]\d\d)[ -]((?:[45])\.\d{1,3}\.\d{1,3})?[^\n]*|\b([45]\.\d{1,3}\.\d{1,3})\b[^\n]*/;

/** How much of a text bounce is searched for addresses and the reply. */
const TEXT_BOUNCE_READ = 16 * 1024;

/** The address of a typed address field ("rfc822; joe@example.net"). */
function typedAddress(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  const address = bareAddress(semi < 0 ? value : value.slice(semi + 1));
  return address.includes('@') ? address : undefined;
}

function stripType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(semi + 1)).trim() || undefined;
}

/** Header blocks separated by empty lines: the per-message and per-recipient groups. */
function headerGroups(text: string): HeaderMap[] {
  return text
    .replace(/\r\n/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((block) => block.trim())
    .filter(Boolean)
    .map((block) => parseHeaderBlock(`${block}\n\n`));
}

function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  return at < 0 ? undefined : address.slice(at + 1).toLowerCase();
}

/** Addresses in a header's values (To, X-Failed-Recipients). */
function headerAddresses(headers: HeaderMap | undefined, name: string): string[] {
  const out: string[] = [];
  for (const value of headers?.get(name) ?? []) {
    for (const part of value.split(',')) {
      const address = bareAddress(part);
      if (address.includes('@')) out.push(address);
    }
  }
  return out;
}

function unique(addresses: readonly string[]): string[] {
  const seen = new Set<string>();
  return addresses.filter((a) => {
    const key = a.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const HEADERS_PARTS = new Set(['text/rfc822-headers', 'message/rfc822-headers']);

/** Largest header block of a returned message that is read (the rest is not needed). */
const MAX_RETURNED_HEAD = 64 * 1024;

interface SplitNode {
  type: 'node' | 'data' | 'body';
  value?: Buffer;
  contentType?: string | false;
  parentNode?: { contentType?: string | false } | false;
  getHeaders?: () => Buffer;
}

/**
 * The header block of the message a report returns: the head of an embedded
 * message/rfc822 part, or the body of a text/rfc822-headers part; the first one found.
 */
async function returnedHeaders(raw: Buffer): Promise<HeaderMap | undefined> {
  const { Splitter } = await import('@zone-eu/mailsplit');
  const splitter = new Splitter({ maxHeadSize: MAX_RETURNED_HEAD });
  let found: Buffer | undefined;
  let collecting: Buffer[] | undefined;
  splitter.on('data', (chunk: SplitNode) => {
    if (found) return;
    if (chunk.type === 'node') {
      if (collecting) {
        found = Buffer.concat(collecting);
        return;
      }
      const parent = chunk.parentNode ? chunk.parentNode.contentType : undefined;
      if (parent === 'message/rfc822' && chunk.getHeaders) found = chunk.getHeaders();
      else if (chunk.contentType && HEADERS_PARTS.has(chunk.contentType)) collecting = [];
    } else if (chunk.type === 'body' && collecting && chunk.value) {
      collecting.push(chunk.value);
    } else if (chunk.type === 'data' && collecting) {
      found = Buffer.concat(collecting);
    }
  });
  splitter.end(raw);
  await finished(splitter);
  found ??= collecting ? Buffer.concat(collecting) : undefined;
  return found ? parseHeaderBlock(found.subarray(0, MAX_RETURNED_HEAD)) : undefined;
}

function readDeliveryStatus(text: string): ReportedRecipient[] {
  const [, ...groups] = headerGroups(text);
  return groups.map((g) => {
    const addresses = unique(
      [
        typedAddress(firstHeader(g, 'final-recipient')),
        typedAddress(firstHeader(g, 'original-recipient')),
      ].filter((a): a is string => a !== undefined),
    );
    const status = firstHeader(g, 'status')?.match(/^[245]\.\d{1,3}\.\d{1,3}/)?.[0];
    const diagnostic = stripType(firstHeader(g, 'diagnostic-code'));
    const remoteMta = stripType(firstHeader(g, 'remote-mta'));
    return {
      addresses,
      action: (firstHeader(g, 'action') ?? '').trim().toLowerCase(),
      ...(status ? { status } : {}),
      ...(diagnostic ? { diagnostic } : {}),
      ...(remoteMta ? { remoteMta } : {}),
    };
  });
}

function readFeedbackReport(text: string, original: HeaderMap | undefined): ParsedComplaint {
  const fields = parseHeaderBlock(`${text.trim()}\n\n`);
  const sourceIp = firstHeader(fields, 'source-ip')?.trim();
  const from = firstHeader(original ?? new Map(), 'from');
  const fromDomain = from ? domainOf(bareAddress(from.split(',')[0] ?? '')) : undefined;
  const userAgent = firstHeader(fields, 'user-agent')?.trim();
  return {
    feedbackType: (firstHeader(fields, 'feedback-type') ?? 'other').trim().toLowerCase(),
    ...(sourceIp ? { sourceIp } : {}),
    addresses: unique([
      ...(fields.get('original-rcpt-to') ?? []).map(bareAddress).filter((a) => a.includes('@')),
      ...headerAddresses(original, 'to'),
    ]),
    ...(fromDomain ? { fromDomain } : {}),
    ...(userAgent ? { userAgent } : {}),
  };
}

/** The failed address and reply of a bounce that carries no report part. */
function readTextBounce(
  headers: HeaderMap,
  text: string,
  original: HeaderMap | undefined,
): ReportedRecipient {
  const failed = headerAddresses(headers, 'x-failed-recipients');
  const mentioned = [...text.matchAll(ADDRESS)]
    .map((m) => m[1] as string)
    .filter((a) => !DAEMON.test(a));
  const reply = REPLY_LINE.exec(text)?.[0]?.trim();
  const status = reply?.match(/\b[45]\.\d{1,3}\.\d{1,3}\b/)?.[0];
  return {
    addresses: unique([...failed, ...mentioned, ...headerAddresses(original, 'to')]),
    // Without an Action field, what the text says decides (see attribute.ts).
    action: '',
    ...(status ? { status } : {}),
    ...(reply ? { diagnostic: reply } : {}),
  };
}

/** Parses one feedback message; never throws on content, only on a broken parser. */
export async function parseFeedback(raw: Buffer): Promise<ParsedFeedback> {
  // Loaded at the first report, not with the package: only the scheduler's feedback stage
  // reads reports, and mailparser with its HTML and charset modules holds several MiB in
  // every process that loads it (docs/performance.md, "Memory per service").
  const { simpleParser } = await import('mailparser');
  const mail = await simpleParser(raw, {
    keepDeliveryStatus: true,
    skipHtmlToText: false,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
  });
  const top = parseHeaderBlock(raw);
  const contentType = mail.headers.get('content-type') as
    | { value: string; params: Record<string, string> }
    | undefined;
  const reportType =
    contentType?.value.toLowerCase() === 'multipart/report'
      ? contentType.params['report-type']?.toLowerCase()
      : undefined;
  const parts = mail.attachments;
  const original = await returnedHeaders(raw);
  const returnPaths = unique([...headerAddresses(original, 'return-path')]);

  const status = parts.find((a) => a.contentType.toLowerCase() === 'message/delivery-status');
  if (status) {
    return {
      format: 'rfc3464',
      recipients: readDeliveryStatus(status.content.toString('utf8')),
      returnPaths,
    };
  }
  const arf = parts.find((a) => a.contentType.toLowerCase() === 'message/feedback-report');
  if (arf || reportType === 'feedback-report') {
    const text = arf?.content.toString('utf8') ?? '';
    const fields = parseHeaderBlock(`${text.trim()}\n\n`);
    return {
      format: 'arf',
      recipients: [],
      complaint: readFeedbackReport(text, original),
      returnPaths: unique([
        ...(fields.get('original-mail-from') ?? []).map(bareAddress).filter((a) => a.includes('@')),
        ...returnPaths,
      ]),
    };
  }
  const sender = bareAddress(firstHeader(top, 'from') ?? '');
  const subject = firstHeader(top, 'subject') ?? '';
  if (DAEMON.test(sender) || BOUNCE_SUBJECT.test(subject) || top.has('x-failed-recipients')) {
    // What a bounce says about the failure is at its top; a returned message may follow.
    const text = (mail.text ?? '').slice(0, TEXT_BOUNCE_READ);
    return {
      format: 'text-bounce',
      recipients: [readTextBounce(top, text, original)],
      returnPaths,
    };
  }
  return { format: 'other', recipients: [], returnPaths };
}
