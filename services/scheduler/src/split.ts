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
