/**
 * Which pool a command line means: the key the relay files mail under (namespace_name, as
 * local mode's banner prints it in brackets), namespace/name, or the bare name when only
 * one namespace has a pool of that name. Pure: the known pools are passed in.
 */
import type { CompiledPool } from '@hikyaku/core';

export type PoolChoice =
  | { kind: 'found'; key: string }
  | { kind: 'unknown'; known: string[] }
  | { kind: 'ambiguous'; candidates: string[] };

export function choosePool(value: string, pools: readonly CompiledPool[]): PoolChoice {
  const exact = pools.filter((p) => p.key === value || `${p.namespace}/${p.name}` === value);
  const matches = exact.length > 0 ? exact : pools.filter((p) => p.name === value);
  if (matches.length === 1) return { kind: 'found', key: (matches[0] as CompiledPool).key };
  if (matches.length > 1) {
    return { kind: 'ambiguous', candidates: matches.map((p) => `${p.namespace}/${p.name}`) };
  }
  return { kind: 'unknown', known: pools.map((p) => `${p.namespace}/${p.name} (${p.key})`) };
}
