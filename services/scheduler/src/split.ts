/** Recipients grouped by destination domain (lower-cased): one delivery item per group. */
export function groupByDomain(rcpts: string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const rcpt of rcpts) {
    const at = rcpt.lastIndexOf('@');
    const domain = (at < 0 ? '' : rcpt.slice(at + 1)).toLowerCase().replace(/\.$/, '');
    const list = groups.get(domain);
    if (list) list.push(rcpt);
    else groups.set(domain, [rcpt]);
  }
  return groups;
}

/**
 * A group cut into parts of at most `size` recipients: the rate policy's recipients per
 * message. Each part is a queue item of its own, shaped and counted as one message.
 */
export function splitRecipients(rcpts: readonly string[], size: number): string[][] {
  const step = Math.max(1, Math.floor(size));
  const parts: string[][] = [];
  for (let i = 0; i < rcpts.length; i += step) parts.push(rcpts.slice(i, i + step));
  return parts;
}

/** The tracker's name for one part of a message's destination group. */
export function groupKey(item: { domain: string; part?: number }): string {
  return item.part ? `${item.domain}#${item.part}` : item.domain;
}
