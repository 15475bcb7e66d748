/**
 * DNS blocklists, the standard way (RFC 5782): the IP's octets reversed (nibbles for IPv6)
 * under the list's zone, asked for A records. An answer in 127.0.0.0/8 means listed, with
 * the last octets saying why; no such name means not listed. What a list answers when it
 * will not answer (Spamhaus' 127.255.255.x for public resolvers, over-quota or malformed
 * queries) is *unknown*, never listed: pausing an IP because a resolver was refused would
 * take a healthy pool down. Pure: the DNS client is elsewhere.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';

/** What one zone said about one IP. */
export type DnsblAnswer =
  | { kind: 'listed'; codes: string[]; meaning: string }
  | { kind: 'not-listed' }
  | { kind: 'unknown'; why: string };

/** How a DNS lookup ended, as the resolver reports it (node:dns error codes). */
export type DnsLookup =
  | { kind: 'answer'; values: string[] }
  /** NXDOMAIN or NODATA: the name has no such record. */
  | { kind: 'none' }
  | { kind: 'error'; code: string };

/** The full 32 hex digits of an IPv6 address (an embedded IPv4 tail included). */
export function expandIpv6(address: string): string {
  let text = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const hex = v4[1].split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
    text = `${text.slice(0, -v4[1].length)}${hex[0]}${hex[1]}:${hex[2]}${hex[3]}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - left.length - right.length;
  const groups = [
    ...left,
    ...Array.from({ length: tail === undefined ? 0 : missing }, () => '0'),
    ...right,
  ];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** The IP's reversed form: "4.3.2.1" for 1.2.3.4, 32 reversed nibbles for IPv6. */
export function reversedIp(address: string): string {
  if (isIPv4(address)) return address.split('.').reverse().join('.');
  if (isIP(address) !== 6) throw new RangeError(`not an IP address: ${address}`);
  return [...expandIpv6(address)].reverse().join('.');
}

/** The name asked of a DNSBL zone for an IP: reversed IP, then the zone. */
export function dnsblQueryName(address: string, zone: string): string {
  return `${reversedIp(address)}.${zone.replace(/\.$/, '')}`;
}

/** The PTR name of an IP (in-addr.arpa / ip6.arpa). */
export function ptrName(address: string): string {
  return `${reversedIp(address)}.${isIPv4(address) ? 'in-addr.arpa' : 'ip6.arpa'}`;
}

const SPAMHAUS_CODES: Readonly<Record<string, string>> = {
  '127.0.0.2': 'SBL: Spamhaus Blocklist (direct spam source)',
  '127.0.0.3': 'SBL CSS: snowshoe spam source',
  '127.0.0.4': 'XBL: exploited or infected host (CBL)',
  '127.0.0.5': 'XBL: exploited or infected host',
  '127.0.0.6': 'XBL: exploited or infected host',
  '127.0.0.7': 'XBL: exploited or infected host',
  '127.0.0.9': 'SBL DROP: hijacked or leased to spammers',
  '127.0.0.10': 'PBL: the ISP says this range should not send mail directly',
  '127.0.0.11': 'PBL: Spamhaus thinks this range should not send mail directly',
};

/** Spamhaus' refusals: typing error, public/open resolver, over the free query volume. */
const SPAMHAUS_REFUSALS: Readonly<Record<string, string>> = {
  '127.255.255.252': 'Spamhaus refused the query: malformed query name',
  '127.255.255.254': 'Spamhaus refused the query: it came through a public or open resolver',
  '127.255.255.255': 'Spamhaus refused the query: too many queries (free use exceeded)',
};

function isSpamhaus(zone: string): boolean {
  return /(^|\.)spamhaus\.(org|net)$/i.test(zone.replace(/\.$/, ''));
}

/**
 * Decodes the A records a zone returned for an IP. Every 127.255.255.x and 127.0.0.1 (some
 * lists' "refused") and anything outside 127.0.0.0/8 (a resolver that rewrites NXDOMAIN to
 * its own address) is unknown; when a list answers both a listing and a refusal, the
 * refusal wins, since the listing cannot then be trusted.
 */
export function decodeDnsblAnswer(zone: string, lookup: DnsLookup): DnsblAnswer {
  if (lookup.kind === 'none') return { kind: 'not-listed' };
  if (lookup.kind === 'error') return { kind: 'unknown', why: `DNS error ${lookup.code}` };
  const codes = [...new Set(lookup.values)].sort();
  if (codes.length === 0) return { kind: 'not-listed' };
  for (const code of codes) {
    if (code.startsWith('127.255.255.')) {
      const why = isSpamhaus(zone) ? SPAMHAUS_REFUSALS[code] : undefined;
      return { kind: 'unknown', why: why ?? `${zone} refused the query (${code})` };
    }
    if (code === '127.0.0.1')
      return { kind: 'unknown', why: `${zone} answered 127.0.0.1 (refused)` };
    if (!/^127\.\d+\.\d+\.\d+$/.test(code)) {
      return {
        kind: 'unknown',
        why: `${zone} answered ${code}, not a DNSBL code (resolver rewriting?)`,
      };
    }
  }
  const meanings = codes.map((code) =>
    isSpamhaus(zone) && SPAMHAUS_CODES[code] ? SPAMHAUS_CODES[code] : `listed (${code})`,
  );
  return { kind: 'listed', codes, meaning: [...new Set(meanings)].join('; ') };
}

/**
 * Addresses no public DNSBL lists and whose PTR is nobody else's business: loopback,
 * private, shared, link-local, documentation and multicast ranges. They are not checked
 * unless a pool asks (a lab with its own DNS), so a query never tells a public list about
 * an internal network.
 */
const NOT_PUBLIC = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 3],
  ] as const) {
    list.addSubnet(net, prefix, 'ipv4');
  }
  for (const [net, prefix] of [
    ['::', 127],
    ['fc00::', 7],
    ['fe80::', 10],
    ['2001:db8::', 32],
    ['ff00::', 8],
  ] as const) {
    list.addSubnet(net, prefix, 'ipv6');
  }
  return list;
})();

export function isPublicAddress(address: string): boolean {
  // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return isPublicAddress(mapped);
  const family = isIP(address);
  if (family === 0) return false;
  return !NOT_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
