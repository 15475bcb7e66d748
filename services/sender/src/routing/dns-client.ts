/**
 * The DNS queries routing needs (MX, A, AAAA, and TXT for MTA-STS), answered by Node's `dns.Resolver` and
 * reduced to three outcomes — records, NODATA, NXDOMAIN — or a DnsLookupError when DNS
 * could not answer (SERVFAIL, REFUSED, timeout, unreachable server).
 *
 * Why Node's resolver rather than dns2's client: c-ares, behind `dns.Resolver`, does what a
 * resolver in a mail path must — random query IDs, a timeout per try, retries across the
 * configured servers, TCP when a UDP answer is truncated, EDNS. dns2's UDP client has no
 * timeout (a lost reply leaves its promise pending and its socket open), throws from a socket
 * callback when a reply's ID does not match, never retries over TCP and draws IDs from 10,000
 * values. The price is that `dns.Resolver` reports TTLs for A and AAAA only; MX and TXT answers
 * come back without a TTL and the cache keeps them for a fixed time instead (see dns-cache.ts).
 */
import { Resolver } from 'node:dns/promises';
import { ConfigError } from '@hikyaku/core';
import { DnsLookupError } from './errors.ts';
import type { MxRecord } from './mx-order.ts';

export type DnsAnswer<T> =
  /** `ttl` in seconds; absent when the resolver does not report it. */
  | { kind: 'records'; records: T[]; ttl?: number }
  /** The name exists but has no record of this type. */
  | { kind: 'nodata' }
  /** The name does not exist. */
  | { kind: 'nxdomain' };

export interface DnsClient {
  mx(name: string): Promise<DnsAnswer<MxRecord>>;
  a(name: string): Promise<DnsAnswer<string>>;
  aaaa(name: string): Promise<DnsAnswer<string>>;
  /** One string per TXT record, its character-strings joined as MTA-STS reads them. */
  txt(name: string): Promise<DnsAnswer<string>>;
  /** Cancels queries in flight; they reject with a DnsLookupError (ECANCELLED). */
  close(): void;
}

export interface DnsClientOptions {
  /** "host" or "host:port" ("[v6]:port" for IPv6); absent: the system's resolvers. */
  servers?: readonly string[];
  /** Time to wait for one answer before trying again or giving up. */
  timeoutMs?: number;
  /** Attempts per server before the query fails. */
  tries?: number;
}

export const DNS_CLIENT_DEFAULTS = { timeoutMs: 5000, tries: 2 } as const;

/** The resolver's codes that are answers, not failures. */
const NODATA = new Set(['ENODATA']);
// EBADNAME: the name is malformed, so no such domain can exist.
const NXDOMAIN = new Set(['ENOTFOUND', 'EBADNAME']);

function classify<T>(type: string, name: string, err: unknown): DnsAnswer<T> {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && NODATA.has(code)) return { kind: 'nodata' };
  if (code !== undefined && NXDOMAIN.has(code)) return { kind: 'nxdomain' };
  throw new DnsLookupError(type, name, code, { cause: err });
}

function withTtl(records: Array<{ address: string; ttl: number }>): DnsAnswer<string> {
  if (records.length === 0) return { kind: 'nodata' };
  return {
    kind: 'records',
    records: records.map((r) => r.address),
    // One answer's records may carry different TTLs; the set is only as fresh as its stalest.
    ttl: Math.min(...records.map((r) => r.ttl)),
  };
}

export function createDnsClient(options: DnsClientOptions = {}): DnsClient {
  const resolver = new Resolver({
    timeout: options.timeoutMs ?? DNS_CLIENT_DEFAULTS.timeoutMs,
    tries: options.tries ?? DNS_CLIENT_DEFAULTS.tries,
  });
  if (options.servers && options.servers.length > 0) {
    try {
      resolver.setServers([...options.servers]);
    } catch (err) {
      throw new ConfigError(`invalid DNS servers ${JSON.stringify(options.servers)}`, {
        cause: err,
      });
    }
  }

  return {
    async mx(name) {
      try {
        const records = await resolver.resolveMx(name);
        return records.length === 0 ? { kind: 'nodata' } : { kind: 'records', records };
      } catch (err) {
        return classify('MX', name, err);
      }
    },
    async a(name) {
      try {
        return withTtl(await resolver.resolve4(name, { ttl: true }));
      } catch (err) {
        return classify('A', name, err);
      }
    },
    async aaaa(name) {
      try {
        return withTtl(await resolver.resolve6(name, { ttl: true }));
      } catch (err) {
        return classify('AAAA', name, err);
      }
    },
    async txt(name) {
      try {
        const records = await resolver.resolveTxt(name);
        return records.length === 0
          ? { kind: 'nodata' }
          : { kind: 'records', records: records.map((chunks) => chunks.join('')) };
      } catch (err) {
        return classify('TXT', name, err);
      }
    },
    close() {
      resolver.cancel();
    },
  };
}
