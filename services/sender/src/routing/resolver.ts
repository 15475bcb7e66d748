/**
 * Where mail for a destination domain goes (RFC 5321 §5.1): a configured static route first,
 * else the domain's MX hosts by preference, else — when the domain has no MX record — the
 * domain's own addresses (the implicit MX). A null MX (RFC 7505) and a domain that does not
 * exist fail permanently; a DNS server that cannot answer fails temporarily.
 */
import { isIP } from 'node:net';
import { type Clock, createDnsCache, type DnsCacheOptions } from './dns-cache.ts';
import {
  createDnsClient,
  type DnsAnswer,
  type DnsClient,
  type DnsClientOptions,
} from './dns-client.ts';
import { addressLiteral, normaliseDomain } from './domain.ts';
import {
  AddressFamilyError,
  DnsLookupError,
  DnsTemporaryError,
  DomainNotFoundError,
  NoMailHostError,
  NullMxError,
  RouteHostUnresolvedError,
} from './errors.ts';
import { isNullMx, type MxRecord, orderMx, type Rng } from './mx-order.ts';
import { type NextHop, routeFromStatic, SMTP_PORT, type StaticRoute } from './static-routes.ts';

/** One host to try, with its addresses in the order to try them. */
export interface Candidate {
  host: string;
  port: number;
  addresses: string[];
  /** MX preference; absent for static routes, address literals and the implicit MX. */
  preference?: number;
}

export type RouteSource = 'static' | 'mx' | 'implicit-mx' | 'address-literal';

export interface Route {
  /** The destination domain as normalised for lookups. */
  domain: string;
  source: RouteSource;
  /** Never empty: a route without a usable host is an error instead. */
  candidates: Candidate[];
}

export interface ResolveOptions {
  /** The pool's static routes; checked before DNS. */
  routes?: readonly StaticRoute[];
  /**
   * Only addresses of this family: a sender bound to an IPv4 address cannot reach an IPv6
   * one, and skipping the other family saves its queries. Absent: IPv4 first, then IPv6.
   */
  family?: 4 | 6;
  /**
   * Whether the pool also sends from addresses of the other family: decides whether mail
   * whose hosts have only addresses of that family waits for one of them or bounces.
   */
  poolHasOtherFamily?: boolean;
}

export interface MxResolver {
  resolve(domain: string, options?: ResolveOptions): Promise<Route>;
  /** Closes the DNS client if this resolver created it. */
  close(): void;
}

interface CommonOptions {
  /** Picks the order among MX hosts of equal preference; Math.random when absent. */
  rng?: Rng;
  /** Port MX hosts are contacted on; tests point it at their own SMTP receivers. */
  port?: number;
  /** MX hosts beyond this many (after ordering) are not looked up, however many a domain lists. */
  maxMxHosts?: number;
}

/** A resolver over a DNS client the caller owns (shared cache, or a stand-in in tests). */
export interface MxResolverWithClient extends CommonOptions {
  dns: DnsClient;
}

/** A resolver that builds its own cached DNS client. */
export interface MxResolverWithServers extends CommonOptions, DnsClientOptions {
  clock: Clock;
  cache?: Omit<DnsCacheOptions, 'clock'>;
}

export type MxResolverOptions = MxResolverWithClient | MxResolverWithServers;

export const MX_RESOLVER_DEFAULTS = { maxMxHosts: 10 } as const;

/** Destination names (and static-route decisions per routes list) remembered at most. */
const NAMES_KEPT = 10_000;

interface Addresses {
  addresses: string[];
  /** A lookup that failed temporarily; only matters when no address was found. */
  failure?: DnsLookupError;
}

function recordsOf<T>(answer: DnsAnswer<T>): T[] {
  return answer.kind === 'records' ? answer.records : [];
}

export function createMxResolver(options: MxResolverOptions): MxResolver {
  const ownsClient = !('dns' in options);
  const dns =
    'dns' in options
      ? options.dns
      : createDnsCache(createDnsClient(options), { ...options.cache, clock: options.clock });
  const rng = options.rng ?? Math.random;
  const port = options.port ?? SMTP_PORT;
  const maxMxHosts = options.maxMxHosts ?? MX_RESOLVER_DEFAULTS.maxMxHosts;

  // Every job asks again for one of a few destination domains: their normalised names and
  // the static route each takes are worked out once (IDNA conversion, every route entry
  // normalised and compared). Kept per routes list, which a pool change replaces.
  const names = new Map<string, string>();
  const hopsByRoutes = new WeakMap<readonly StaticRoute[], Map<string, NextHop | null>>();

  const remember = <V>(cache: Map<string, V>, key: string, value: V): V => {
    if (cache.size >= NAMES_KEPT) cache.clear();
    cache.set(key, value);
    return value;
  };

  const normalised = (destination: string): string =>
    names.get(destination) ?? remember(names, destination, normaliseDomain(destination));

  const staticHop = (
    routes: readonly StaticRoute[] | undefined,
    domain: string,
  ): NextHop | undefined => {
    if (!routes || routes.length === 0) return undefined;
    let hops = hopsByRoutes.get(routes);
    if (!hops) {
      hops = new Map();
      hopsByRoutes.set(routes, hops);
    }
    const known = hops.get(domain);
    if (known !== undefined) return known ?? undefined;
    return remember(hops, domain, routeFromStatic(routes, domain) ?? null) ?? undefined;
  };

  const addressesOf = async (host: string, family: 4 | 6 | undefined): Promise<Addresses> => {
    const literalFamily = isIP(host);
    if (literalFamily !== 0) {
      return { addresses: family === undefined || family === literalFamily ? [host] : [] };
    }
    const lookups: Array<Promise<DnsAnswer<string>>> = [];
    if (family !== 6) lookups.push(dns.a(host));
    if (family !== 4) lookups.push(dns.aaaa(host));
    const settled = await Promise.allSettled(lookups);
    const addresses: string[] = [];
    let failure: DnsLookupError | undefined;
    for (const result of settled) {
      if (result.status === 'fulfilled') {
        addresses.push(...recordsOf(result.value));
      } else if (result.reason instanceof DnsLookupError) {
        failure ??= result.reason;
      } else {
        throw result.reason;
      }
    }
    return failure ? { addresses, failure } : { addresses };
  };

  /**
   * When nothing of `family` was found: whether the hosts have addresses of the other
   * family, as an error saying so. Asked only on this failure path, so a working route
   * never pays for the other family's queries.
   */
  const otherFamilyOnly = async (
    domain: string,
    hosts: readonly string[],
    family: 4 | 6 | undefined,
    poolHasOtherFamily: boolean,
  ): Promise<AddressFamilyError | undefined> => {
    if (family === undefined) return undefined;
    const other = family === 4 ? 6 : 4;
    const found = await Promise.all(hosts.map((host) => addressesOf(host, other)));
    if (!found.some((f) => f.addresses.length > 0)) return undefined;
    return new AddressFamilyError(domain, { hosts, family, poolHasOtherFamily });
  };

  const mxOf = async (domain: string): Promise<DnsAnswer<MxRecord>> => {
    try {
      return await dns.mx(domain);
    } catch (err) {
      if (err instanceof DnsLookupError) throw new DnsTemporaryError(domain, err);
      throw err;
    }
  };

  const viaStatic = async (
    domain: string,
    host: string,
    hopPort: number,
    family: 4 | 6 | undefined,
  ): Promise<Route> => {
    const { addresses, failure } = await addressesOf(host, family);
    if (addresses.length === 0) {
      if (failure) throw new DnsTemporaryError(domain, failure);
      throw new RouteHostUnresolvedError(domain, host);
    }
    return { domain, source: 'static', candidates: [{ host, port: hopPort, addresses }] };
  };

  const viaImplicitMx = async (
    domain: string,
    family: 4 | 6 | undefined,
    poolHasOtherFamily: boolean,
  ): Promise<Route> => {
    const { addresses, failure } = await addressesOf(domain, family);
    if (addresses.length === 0) {
      if (failure) throw new DnsTemporaryError(domain, failure);
      throw (
        (await otherFamilyOnly(domain, [domain], family, poolHasOtherFamily)) ??
        new NoMailHostError(domain, 'it has no MX record and no address record')
      );
    }
    return { domain, source: 'implicit-mx', candidates: [{ host: domain, port, addresses }] };
  };

  const viaMx = async (
    domain: string,
    records: MxRecord[],
    family: 4 | 6 | undefined,
    poolHasOtherFamily: boolean,
  ): Promise<Route> => {
    const hosts = orderMx(records, rng).slice(0, maxMxHosts);
    // Only root exchanges (a null MX written more than once) still means "no mail here".
    if (isNullMx(records) || hosts.length === 0) throw new NullMxError(domain);
    const resolved = await Promise.all(hosts.map((mx) => addressesOf(mx.host, family)));
    const candidates: Candidate[] = [];
    let failure: DnsLookupError | undefined;
    hosts.forEach((mx, i) => {
      const found = resolved[i] as Addresses;
      failure ??= found.failure;
      if (found.addresses.length > 0) {
        candidates.push({
          host: mx.host,
          port,
          addresses: found.addresses,
          preference: mx.preference,
        });
      }
    });
    if (candidates.length === 0) {
      // A host whose lookup failed may well have addresses: wait for DNS rather than bounce.
      if (failure) throw new DnsTemporaryError(domain, failure);
      const names = hosts.map((mx) => mx.host);
      throw (
        (await otherFamilyOnly(domain, names, family, poolHasOtherFamily)) ??
        new NoMailHostError(domain, `none of its MX hosts (${names.join(', ')}) has an address`)
      );
    }
    return { domain, source: 'mx', candidates };
  };

  return {
    async resolve(destination, resolveOptions = {}) {
      const { routes, family, poolHasOtherFamily = false } = resolveOptions;
      const literal = addressLiteral(destination);
      const domain = literal === undefined ? normalised(destination) : destination.trim();

      const hop = staticHop(routes, domain);
      if (hop) return viaStatic(domain, hop.host, hop.port, family);

      if (literal !== undefined) {
        const { addresses } = await addressesOf(literal, family);
        if (addresses.length === 0) {
          throw new NoMailHostError(domain, `the address is not IPv${family}`);
        }
        return {
          domain,
          source: 'address-literal',
          candidates: [{ host: literal, port, addresses }],
        };
      }
      if (domain === '') throw new DomainNotFoundError(destination);

      const answer = await mxOf(domain);
      switch (answer.kind) {
        case 'nxdomain':
          throw new DomainNotFoundError(domain);
        case 'nodata':
          return viaImplicitMx(domain, family, poolHasOtherFamily);
        case 'records':
          return viaMx(domain, answer.records, family, poolHasOtherFamily);
      }
    },
    close() {
      if (ownsClient) dns.close();
    },
  };
}
