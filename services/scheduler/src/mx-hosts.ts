/**
 * The MX host names of a destination domain, for matching rate policies by MX pattern
 * ("*.google.com" covers every domain Google hosts). A static route's host counts as the
 * domain's MX. Lookups are cached (answers for an hour, failures for a minute) and never
 * throw: a domain whose MX is not known yet is matched by its name alone, and the sender
 * reports the routing failure when it tries.
 */
import { Resolver } from 'node:dns/promises';
import type { CompiledRoute } from '@hikyaku/core';

export interface MxLookup {
  /** Host names, most preferred first; [] when the domain has none or DNS did not answer. */
  hosts(domain: string, routes: readonly CompiledRoute[]): Promise<string[]>;
  close(): void;
}

export interface MxLookupOptions {
  /** DNS servers ("host" or "host:port"); empty: the system's resolvers. */
  servers?: readonly string[];
  timeoutMs?: number;
  now: () => number;
  answerTtlMs?: number;
  failureTtlMs?: number;
  /** Cached domains at most; the oldest entries go first. */
  maxEntries?: number;
}

const NO_ANSWER = new Set(['ENODATA', 'ENOTFOUND', 'EBADNAME']);

export function staticRouteHost(domain: string, routes: readonly CompiledRoute[]): string | null {
  const exact = routes.find((r) => r.domains.includes(domain));
  const route = exact ?? routes.find((r) => r.domains.includes('*'));
  return route ? route.host.toLowerCase() : null;
}

export function createMxLookup(options: MxLookupOptions): MxLookup {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 3000, tries: 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  const answerTtl = options.answerTtlMs ?? 3600_000;
  const failureTtl = options.failureTtlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, { hosts: string[]; until: number }>();
  const inFlight = new Map<string, Promise<string[]>>();

  async function lookup(domain: string): Promise<string[]> {
    let hosts: string[] = [];
    let ttl = answerTtl;
    try {
      const records = await resolver.resolveMx(domain);
      hosts = records
        .sort((a, b) => a.priority - b.priority)
        .map((r) => r.exchange.toLowerCase().replace(/\.$/, ''))
        .filter((h) => h !== '');
    } catch (err) {
      if (!NO_ANSWER.has((err as NodeJS.ErrnoException).code ?? '')) ttl = failureTtl;
    }
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(domain, { hosts, until: options.now() + ttl });
    return hosts;
  }

  return {
    async hosts(domain, routes) {
      const routed = staticRouteHost(domain, routes);
      if (routed !== null) return [routed];
      const cached = cache.get(domain);
      if (cached && cached.until > options.now()) return cached.hosts;
      let pending = inFlight.get(domain);
      if (!pending) {
        pending = lookup(domain).finally(() => inFlight.delete(domain));
        inFlight.set(domain, pending);
      }
      return pending;
    },
    close() {
      resolver.cancel();
    },
  };
}
