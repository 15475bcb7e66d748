/**
 * A cache in front of a DnsClient, so that a burst of mail to one domain costs one lookup.
 * Answers are kept for their TTL (capped), answers without a TTL (MX, see dns-client.ts) for
 * a fixed time, and NODATA / NXDOMAIN briefly, so that a domain fixed by its owner is seen
 * soon. Failures are not kept: the next delivery attempt asks again. Concurrent lookups of
 * the same question share one query.
 */
import type { DnsAnswer, DnsClient } from './dns-client.ts';

/** Milliseconds since the epoch; injected so that tests move time instead of waiting. */
export interface Clock {
  now(): number;
}

export interface DnsCacheOptions {
  clock: Clock;
  /** Seconds to keep an answer that came without a TTL (MX and TXT answers). */
  defaultTtlSeconds?: number;
  /** Seconds to keep NODATA and NXDOMAIN. */
  negativeTtlSeconds?: number;
  /** Upper bound on any TTL, so a mistaken week-long TTL does not pin a stale answer. */
  maxTtlSeconds?: number;
  /** Beyond this many questions the least recently used answers are dropped. */
  maxEntries?: number;
}

export const DNS_CACHE_DEFAULTS = {
  defaultTtlSeconds: 300,
  negativeTtlSeconds: 60,
  maxTtlSeconds: 3600,
  maxEntries: 10_000,
} as const;

interface Entry {
  answer: DnsAnswer<unknown>;
  expiresAt: number;
}

export function createDnsCache(client: DnsClient, options: DnsCacheOptions): DnsClient {
  const { clock } = options;
  const defaultTtl = options.defaultTtlSeconds ?? DNS_CACHE_DEFAULTS.defaultTtlSeconds;
  const negativeTtl = options.negativeTtlSeconds ?? DNS_CACHE_DEFAULTS.negativeTtlSeconds;
  const maxTtl = options.maxTtlSeconds ?? DNS_CACHE_DEFAULTS.maxTtlSeconds;
  const maxEntries = options.maxEntries ?? DNS_CACHE_DEFAULTS.maxEntries;
  const entries = new Map<string, Entry>();
  const inFlight = new Map<string, Promise<DnsAnswer<unknown>>>();

  const ttlOf = (answer: DnsAnswer<unknown>): number =>
    answer.kind === 'records' ? Math.min(answer.ttl ?? defaultTtl, maxTtl) : negativeTtl;

  const store = (key: string, answer: DnsAnswer<unknown>): void => {
    const ttl = ttlOf(answer);
    if (!(ttl > 0)) return;
    entries.set(key, { answer, expiresAt: clock.now() + ttl * 1000 });
    // A Map iterates in insertion order and hits are re-inserted, so the first key is the
    // least recently used.
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next();
      if (oldest.done) break;
      entries.delete(oldest.value);
    }
  };

  const cached = <T>(
    type: string,
    name: string,
    query: () => Promise<DnsAnswer<T>>,
  ): Promise<DnsAnswer<T>> => {
    const key = `${type} ${name.toLowerCase().replace(/\.$/, '')}`;
    const hit = entries.get(key);
    if (hit) {
      entries.delete(key);
      if (hit.expiresAt > clock.now()) {
        entries.set(key, hit);
        return Promise.resolve(hit.answer as DnsAnswer<T>);
      }
    }
    const pending = inFlight.get(key);
    if (pending) return pending as Promise<DnsAnswer<T>>;
    const lookup = query()
      .then((answer) => {
        store(key, answer);
        return answer;
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, lookup);
    return lookup;
  };

  return {
    mx: (name) => cached('MX', name, () => client.mx(name)),
    a: (name) => cached('A', name, () => client.a(name)),
    aaaa: (name) => cached('AAAA', name, () => client.aaaa(name)),
    txt: (name) => cached('TXT', name, () => client.txt(name)),
    close() {
      entries.clear();
      client.close();
    },
  };
}
