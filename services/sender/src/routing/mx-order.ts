/**
 * Ordering MX records as RFC 5321 §5.1 asks: lowest preference first, and hosts of equal
 * preference in random order so that load spreads across them (the random source is passed
 * in, so tests can show both orders).
 */

/** An MX record as `dns.Resolver#resolveMx` returns it. */
export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface MxHost {
  host: string;
  preference: number;
}

/** Returns a number in [0, 1), like Math.random. */
export type Rng = () => number;

function isRoot(exchange: string): boolean {
  return exchange === '' || exchange === '.';
}

/**
 * A null MX (RFC 7505) is a single MX whose exchange is the root. A root exchange next to
 * real MX hosts is a misconfiguration that RFC 7505 §3 tells the sender to ignore, so only
 * the lone form means "accepts no mail".
 */
export function isNullMx(records: readonly MxRecord[]): boolean {
  return records.length === 1 && isRoot((records[0] as MxRecord).exchange);
}

function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * MX hosts in the order to try them. Host names are lower-cased without the trailing dot;
 * a host listed twice keeps its most preferred entry; root exchanges are dropped.
 */
export function orderMx(records: readonly MxRecord[], rng: Rng): MxHost[] {
  const best = new Map<string, number>();
  for (const { exchange, priority } of records) {
    if (isRoot(exchange)) continue;
    const host = exchange.toLowerCase().replace(/\.$/, '');
    const known = best.get(host);
    if (known === undefined || priority < known) best.set(host, priority);
  }
  const byPreference = new Map<number, string[]>();
  for (const [host, preference] of best) {
    const group = byPreference.get(preference);
    if (group) group.push(host);
    else byPreference.set(preference, [host]);
  }
  return [...byPreference.keys()]
    .sort((a, b) => a - b)
    .flatMap((preference) =>
      shuffle(byPreference.get(preference) as string[], rng).map((host) => ({ host, preference })),
    );
}
