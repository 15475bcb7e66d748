/**
 * The pools as the scheduler's stages see them: an IP the reputation guard paused is marked
 * draining, so admission gives it no new jobs (activeIps) and its mail goes to the pool's
 * other IPs under their own rates and warm-up caps; a pool whose every IP is paused has
 * no active IP, and its mail waits instead of bouncing. Jobs already handed to a paused IP
 * are delivered. Views are memoised per pool object and paused set, so what is cached per
 * pool downstream (destinations, caps) keeps working.
 */
import type { CompiledPool, PoolDirectory } from '@hikyaku/core';

export function withPausedIps(
  pools: PoolDirectory,
  paused: (pool: string) => ReadonlySet<string>,
): PoolDirectory {
  const memo = new WeakMap<CompiledPool, { signature: string; view: CompiledPool }>();
  const view = (pool: CompiledPool): CompiledPool => {
    const set = paused(pool.key);
    if (set.size === 0 || !pool.ips.some((ip) => set.has(ip.address))) return pool;
    const signature = [...set].sort().join(',');
    const known = memo.get(pool);
    if (known?.signature === signature) return known.view;
    const next: CompiledPool = {
      ...pool,
      ips: pool.ips.map((ip) => (set.has(ip.address) ? { ...ip, draining: true } : ip)),
    };
    memo.set(pool, { signature, view: next });
    return next;
  };
  return {
    get: (key) => {
      const pool = pools.get(key);
      return pool && view(pool);
    },
    all: () => pools.all().map(view),
    waitFor: async (key, timeoutMs) => view(await pools.waitFor(key, timeoutMs)),
    onChange: (listener) => pools.onChange((pool, key) => listener(pool && view(pool), key)),
    stop: () => pools.stop(),
  };
}
