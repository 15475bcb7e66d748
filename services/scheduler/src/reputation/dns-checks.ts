/**
 * The reputation guard's DNS lookups: a DNSBL zone's A records for an IP, and the PTR and
 * forward records FCrDNS needs. Answers are read into DnsLookup and judged by the pure
 * policy. The resolver is configurable (HIKYAKU_REPUTATION_DNS_SERVERS, else
 * HIKYAKU_DNS_SERVERS): public DNSBLs refuse queries that come through public resolvers, so
 * production points this at a resolver of its own, and tests at a server on loopback.
 */
import { Resolver } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import {
  type DnsblAnswer,
  type DnsLookup,
  decodeDnsblAnswer,
  dnsblQueryName,
  expandIpv6,
  fcrdnsVerdict,
  type PtrCheck,
  ptrName,
} from '@hikyaku/core/policy';

export interface ReputationDns {
  dnsbl(address: string, zone: string): Promise<DnsblAnswer>;
  fcrdns(address: string, hostname: string): Promise<PtrCheck>;
  close(): void;
}

/** NXDOMAIN and NODATA as node:dns reports them: the name has no such record. */
const NO_RECORD = new Set(['ENOTFOUND', 'ENODATA']);

async function lookup(run: () => Promise<string[]>): Promise<DnsLookup> {
  try {
    const values = await run();
    return values.length > 0 ? { kind: 'answer', values } : { kind: 'none' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    return NO_RECORD.has(code) ? { kind: 'none' } : { kind: 'error', code };
  }
}

function sameAddress(a: string, b: string): boolean {
  if (isIPv4(a) || isIPv4(b)) return a === b;
  return expandIpv6(a) === expandIpv6(b);
}

export function createReputationDns(options: {
  /** "host" or "host:port"; empty: the system's resolvers. */
  servers: readonly string[];
  timeoutMs: number;
}): ReputationDns {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 2 });
  if (options.servers.length > 0) resolver.setServers([...options.servers]);
  return {
    async dnsbl(address, zone) {
      const name = dnsblQueryName(address, zone);
      return decodeDnsblAnswer(zone, await lookup(() => resolver.resolve4(name)));
    },
    async fcrdns(address, hostname) {
      // resolvePtr, not reverse(): reverse() reports a timeout or SERVFAIL as ENOTFOUND,
      // which would read as "no PTR" instead of "unknown".
      const ptr = await lookup(() => resolver.resolvePtr(ptrName(address)));
      const names = ptr.kind === 'answer' ? ptr.values : [];
      const claimed = names.some(
        (n) => n.toLowerCase().replace(/\.$/, '') === hostname.toLowerCase().replace(/\.$/, ''),
      );
      const forward = claimed
        ? await lookup(() =>
            isIPv4(address) ? resolver.resolve4(hostname) : resolver.resolve6(hostname),
          )
        : undefined;
      return fcrdnsVerdict({
        address,
        hostname,
        ptr,
        ...(forward ? { forward } : {}),
        sameAddress,
      });
    },
    close() {
      resolver.cancel();
    },
  };
}
