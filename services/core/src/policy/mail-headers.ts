/**
 * The little header reading the DSN code needs: a raw header block (or a message whose
 * head it is) into lower-cased names and unfolded values, and the bare address of a
 * mailbox field. Full MIME parsing belongs to the ingress; here only loops are detected
 * and the original Message-ID is picked up.
 */

/** Header values by lower-cased name, in order of appearance. */
export type HeaderMap = ReadonlyMap<string, readonly string[]>;

/** Headers as callers may hold them: raw text, or already split by name. */
export type HeaderInput =
  | string
  | Buffer
  | HeaderMap
  | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The header block of raw text: everything before the first empty line, CRLF line ends. */
export function headerBlock(raw: string | Buffer): string {
  const text = typeof raw === 'string' ? raw : raw.toString('latin1');
  const lines = text.split(/\r?\n/);
  const end = lines.indexOf('');
  const head = end === -1 ? lines : lines.slice(0, end);
  return head.length === 0 ? '' : `${head.join('\r\n')}\r\n`;
}

/** Splits a header block into names and unfolded values. */
export function parseHeaderBlock(raw: string | Buffer): HeaderMap {
  const map = new Map<string, string[]>();
  let current: { name: string; value: string } | undefined;
  const flush = () => {
    if (current === undefined) return;
    const values = map.get(current.name) ?? [];
    values.push(current.value.trim());
    map.set(current.name, values);
  };
  for (const line of headerBlock(raw).split('\r\n')) {
    if (/^[ \t]/.test(line) && current !== undefined) {
      current.value += ` ${line.trim()}`;
      continue;
    }
    flush();
    current = undefined;
    const colon = line.indexOf(':');
    if (colon > 0) {
      current = { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1) };
    }
  }
  flush();
  return map;
}

/** Any HeaderInput as a HeaderMap. */
export function toHeaderMap(headers: HeaderInput): HeaderMap {
  if (typeof headers === 'string' || Buffer.isBuffer(headers)) return parseHeaderBlock(headers);
  if (headers instanceof Map) {
    return new Map([...headers].map(([k, v]) => [k.toLowerCase(), [...v]]));
  }
  const map = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    map.set(key, [...(map.get(key) ?? []), ...(typeof value === 'string' ? [value] : value)]);
  }
  return map;
}

/** The first value of a header, if present. */
export function firstHeader(headers: HeaderMap, name: string): string | undefined {
  return headers.get(name.toLowerCase())?.[0];
}

/** The address inside "Name <addr>", "<addr>" or "addr"; '' for "<>". */
export function bareAddress(value: string): string {
  const angle = /<([^<>]*)>\s*$/.exec(value.trim());
  return (angle === null ? value : (angle[1] ?? '')).trim();
}

/** The local part of an address, lower-cased ('' when there is none). */
export function localPart(address: string): string {
  const at = address.lastIndexOf('@');
  return (at === -1 ? address : address.slice(0, at)).toLowerCase();
}
