/**
 * Which pool a client's mail belongs to: the pool of the submitter it authenticated as, or
 * the first pool whose allowedNetworks contain the client address. No pool: not allowed to
 * relay (there is no open relay mode).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { CompiledPool } from '@hikyaku/core';

export function networkList(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/');
    if (!address) continue;
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (!isIPv4(address) && !isIPv6(address)) continue;
    const bits = prefix === undefined ? (type === 'ipv4' ? 32 : 128) : Number(prefix);
    list.addSubnet(address, bits, type);
  }
  return list;
}

function normaliseAddress(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1] as string, type: 'ipv4' };
  // A socket's address: only an IPv6 one has a colon (cheaper than isIPv6's pattern, and
  // asked at every session and transaction).
  return { address, type: address.includes(':') ? 'ipv6' : 'ipv4' };
}

export function createPoolSelector() {
  const cache = new Map<string, { generation: number; list: BlockList; networks: string }>();

  function listFor(pool: CompiledPool): BlockList {
    const networks = pool.allowedNetworks.join(',');
    const cached = cache.get(pool.key);
    if (cached && cached.networks === networks) return cached.list;
    const list = networkList(pool.allowedNetworks);
    cache.set(pool.key, { generation: pool.generation, list, networks });
    return list;
  }

  return {
    byNetwork(pools: CompiledPool[], clientAddress: string): CompiledPool | undefined {
      const { address, type } = normaliseAddress(clientAddress);
      return pools.find((pool) => listFor(pool).check(address, type));
    },
  };
}
