/**
 * Reading the author's domain from a raw message, to choose the DKIM key: DMARC judges a
 * signature by the domain of the header From (RFC 7489 §3.1), so that is the domain to sign
 * for. Pure string work on the header section; the body is never decoded.
 */
import { normaliseDomain } from '../routing/domain.ts';

export interface HeaderField {
  /** As written. */
  name: string;
  /** Unfolded, without the leading space. */
  value: string;
}

/** The header section of a message: everything before the first empty line. */
export function headerSection(message: Buffer | string): string {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const ends = [bytes.indexOf('\r\n\r\n'), bytes.indexOf('\n\n')].filter((i) => i >= 0);
  const end = ends.length > 0 ? Math.min(...ends) : bytes.length;
  return bytes.subarray(0, end).toString('utf8');
}

/** Header fields in order, continuation lines joined to their field. */
export function headerFields(headers: string): HeaderField[] {
  const fields: HeaderField[] = [];
  let current: string | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const colon = current.indexOf(':');
    if (colon > 0) {
      fields.push({ name: current.slice(0, colon).trim(), value: current.slice(colon + 1).trim() });
    }
  };
  for (const line of headers.split(/\r?\n/)) {
    if (line === '') break;
    if ((line.startsWith(' ') || line.startsWith('\t')) && current !== undefined) {
      current += line;
    } else {
      flush();
      current = line;
    }
  }
  flush();
  return fields;
}

/**
 * The text of an address header with comments removed and quoted strings emptied, so that a
 * display name such as `"Sales, <EU>" (a@b)` cannot be taken for an address.
 */
function withoutQuotesAndComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && (quoted || depth > 0)) {
      i++;
    } else if (quoted) {
      if (c === '"') {
        quoted = false;
        out += '"';
      }
    } else if (c === '(') {
      depth++;
    } else if (c === ')' && depth > 0) {
      depth--;
    } else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

/** The domain of an address (`user@example.com`, `<user@example.com>`), normalised. */
export function domainOfAddress(address: string): string | undefined {
  const plain = withoutQuotesAndComments(address).trim();
  const angle = /<([^>]*)>/.exec(plain);
  const spec = (angle ? (angle[1] as string) : plain).trim();
  const at = spec.lastIndexOf('@');
  if (at < 0) return undefined;
  const domain = normaliseDomain(spec.slice(at + 1).replace(/[>;,\s].*$/, ''));
  return domain === '' ? undefined : domain;
}

/**
 * The domain of the first mailbox in the header From, or undefined when there is no From
 * or it holds no address. With several From fields the first one counts.
 */
export function parseFromDomain(message: Buffer | string): string | undefined {
  const from = headerFields(headerSection(message)).find((f) => f.name.toLowerCase() === 'from');
  if (!from) return undefined;
  let list = withoutQuotesAndComments(from.value);
  // Group syntax ("Team: a@x, b@y;"): the display name ends at the first colon outside <>.
  const colon = list.indexOf(':');
  const angle = list.indexOf('<');
  if (colon >= 0 && (angle < 0 || colon < angle)) list = list.slice(colon + 1);
  for (const mailbox of list.split(/[,;]/)) {
    const domain = domainOfAddress(mailbox);
    if (domain !== undefined) return domain;
  }
  return undefined;
}
