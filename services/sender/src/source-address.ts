/**
 * Whether an address can be a source address on this pod: it is configured on one of the
 * pod's interfaces. On Linux the whole 127.0.0.0/8 is local when 127.0.0.1/8 is on the
 * loopback interface, although only 127.0.0.1 is listed, so a loopback network counts for
 * every address inside it.
 */
import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function prefixLength(cidr: string | null): number | undefined {
  const bits = cidr?.split('/')[1];
  return bits === undefined ? undefined : Number(bits);
}

function inIpv4Network(address: string, network: string, bits: number): boolean {
  if (bits === 0) return true;
  const span = 2 ** (32 - bits);
  return Math.floor(ipv4ToInt(address) / span) === Math.floor(ipv4ToInt(network) / span);
}

/** Lower-case, IPv4-mapped IPv6 written as IPv4, zone index dropped. */
function canonical(address: string): string {
  const plain = address.toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  return mapped ? (mapped[1] as string) : plain;
}

export function isLocalAddress(address: string, interfaces: Interfaces): boolean {
  const wanted = canonical(address);
  const family = isIP(wanted);
  if (family === 0) return false;
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (canonical(entry.address) === wanted) return true;
      // Only a loopback network answers for all its addresses; on any other interface an
      // address must be configured itself.
      if (family === 4 && entry.family === 'IPv4' && entry.internal) {
        const bits = prefixLength(entry.cidr);
        if (bits !== undefined && inIpv4Network(wanted, entry.address, bits)) return true;
      }
    }
  }
  return false;
}
