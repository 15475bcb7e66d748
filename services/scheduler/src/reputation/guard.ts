/**
 * The reputation guard: on a schedule (and at once when a pool changes) every sending IP
 * is checked against the pool's DNS blocklists and for forward-confirmed reverse DNS, its
 * receivers' verdicts are read, and the pure policy decides whether it is paused. The
 * result goes to NATS KV, which every replica watches: all of them stop giving a paused IP
 * new jobs (paused-view.ts), the operator shows it on the RelayPool, local mode prints it.
 *
 * Replicas share the work through the KV entries: a check is due by the stored time, and
 * a write is a compare-and-set, so two replicas that decide together write once.
 */
import {
  type CompiledPool,
  ipToken,
  type Logger,
  type PoolDirectory,
  type ReputationStore,
  type StoredReputation,
} from '@hikyaku/core';
import {
  applyDnsFindings,
  type DnsFindings,
  decidePause,
  dnsChecksDue,
  emptyReputation,
  type IpReputation,
  isPublicAddress,
  nextCheckAt,
  type ReputationSettings,
  resolveReputationSettings,
} from '@hikyaku/core/policy';
import type { ReputationDns } from './dns-checks.ts';
import type { ReputationMetrics } from './metrics.ts';
import type { VerdictCounter } from './verdicts.ts';

export interface ReputationGuard {
  /** Addresses of a pool that take no new jobs. */
  paused(pool: string): ReadonlySet<string>;
  /** Every pool's stored states, for metrics. */
  snapshot(): { pool: string; states: IpReputation[]; allPaused: boolean }[];
  /** Runs one round now and resolves when it is done. */
  tick(): Promise<void>;
  /** Stops ticking and waits for a round under way. */
  stop(): Promise<void>;
}

export interface ReputationGuardDeps {
  store: ReputationStore;
  /** The pools as compiled (not the paused view). */
  pools: PoolDirectory;
  verdicts: VerdictCounter;
  dns: ReputationDns;
  now(): number;
  rng(): number;
  log: Logger;
  metrics?: ReputationMetrics;
  /** Real ms between rounds. */
  tickMs: number;
}

const EMPTY: ReadonlySet<string> = new Set();

export function settingsOf(pool: CompiledPool): ReputationSettings {
  return pool.reputation ?? resolveReputationSettings(undefined);
}

function checkable(address: string, settings: ReputationSettings): boolean {
  return settings.enabled && (settings.checkPrivateAddresses || isPublicAddress(address));
}

/** JSON equality, key order aside: a state is written only when it changed. */
function same(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

export async function startReputationGuard(deps: ReputationGuardDeps): Promise<ReputationGuard> {
  const { store, pools, verdicts, dns, log } = deps;
  /** pool -> address -> latest stored entry (from the watch and our own writes). */
  const cache = new Map<string, Map<string, StoredReputation>>();
  const allPausedBefore = new Map<string, boolean>();

  /** pool -> paused addresses, computed once per change: admission asks for every item. */
  const pausedSets = new Map<string, ReadonlySet<string>>();
  const remember = (entry: StoredReputation): void => {
    pausedSets.delete(entry.pool);
    const byIp = cache.get(entry.pool) ?? new Map<string, StoredReputation>();
    const known = byIp.get(entry.state.address);
    if (!known || known.revision < entry.revision) byIp.set(entry.state.address, entry);
    cache.set(entry.pool, byIp);
  };
  const stopWatch = await store.watch(
    (entry) => {
      if ('removed' in entry) {
        pausedSets.delete(entry.pool);
        const byIp = cache.get(entry.pool);
        for (const address of byIp?.keys() ?? []) {
          if (ipToken(address) === entry.removed) byIp?.delete(address);
        }
        return;
      }
      remember(entry);
    },
    (err) =>
      log.warn(
        { err },
        'reputation watch ended; pauses stored meanwhile are seen at the next round',
      ),
  );
  for (const pool of pools.all()) {
    for (const entry of await store.listStored(pool.key)) remember(entry);
  }

  async function timed<T>(check: string, run: () => Promise<T>): Promise<T> {
    const end = deps.metrics?.checkDuration.startTimer({ check });
    try {
      return await run();
    } finally {
      end?.();
    }
  }

  async function runDns(
    pool: CompiledPool,
    address: string,
    hostname: string,
    settings: ReputationSettings,
  ): Promise<DnsFindings> {
    const [zones, ptr] = await Promise.all([
      Promise.all(
        settings.zones.map(async ({ zone, action }) => {
          const answer = await timed('dnsbl', () => dns.dnsbl(address, zone));
          if (answer.kind === 'unknown') {
            deps.metrics?.checkFailures.inc({ check: 'dnsbl', zone });
            log.warn(
              { pool: pool.key, ip: address, zone, why: answer.why },
              'DNSBL answer unknown',
            );
          }
          return { zone, action, answer };
        }),
      ),
      settings.fcrdns === 'off'
        ? Promise.resolve(undefined)
        : timed('fcrdns', () => dns.fcrdns(address, hostname)),
    ]);
    if (ptr?.verdict === 'unknown') {
      deps.metrics?.checkFailures.inc({ check: 'fcrdns', zone: '' });
      log.warn({ pool: pool.key, ip: address, why: ptr.detail }, 'reverse DNS check unknown');
    }
    return { zones, ...(ptr ? { ptr } : {}) };
  }

  function report(pool: CompiledPool, before: IpReputation | undefined, after: IpReputation) {
    const at = { pool: pool.key, ip: after.address };
    if (after.paused && !before?.paused) {
      log.warn(
        { ...at, reason: after.paused.reason, detail: after.paused.detail },
        "IP paused by the reputation guard: it takes no new mail; the pool's other IPs carry it",
      );
    } else if (!after.paused && before?.paused) {
      log.info({ ...at, was: before.paused.reason }, 'IP resumed by the reputation guard');
    }
    const newly = after.listings.filter((l) => !before?.listings.some((b) => b.zone === l.zone));
    for (const l of newly) {
      log.warn(
        { ...at, zone: l.zone, codes: l.codes, meaning: l.meaning, action: l.action },
        'IP listed on a DNS blocklist',
      );
    }
    if (after.ptr?.verdict === 'mismatch' && before?.ptr?.verdict !== 'mismatch') {
      log.warn({ ...at, detail: after.ptr.detail }, 'reverse DNS does not confirm the IP hostname');
    }
  }

  async function checkPool(pool: CompiledPool): Promise<void> {
    const settings = settingsOf(pool);
    const now = deps.now();
    const byIp = cache.get(pool.key) ?? new Map<string, StoredReputation>();
    const counting = settings.enabled && settings.blockReplies.action !== 'off';
    const windowStart = now - settings.blockReplies.windowMs;
    const counts = counting ? await verdicts.read(pool, windowStart, now) : undefined;
    for (const ip of pool.ips) {
      const stored = byIp.get(ip.address);
      let state = stored?.state ?? emptyReputation(ip.address, ip.hostname);
      if (checkable(ip.address, settings)) {
        if (dnsChecksDue(stored?.state, ip, pool.generation, now)) {
          const findings = await runDns(pool, ip.address, ip.hostname, settings);
          state = applyDnsFindings(state, findings, {
            now,
            generation: pool.generation,
            nextCheckAt: nextCheckAt(now, settings, deps.rng),
            hostname: ip.hostname,
          });
        }
      } else if (state.listings.length > 0 || state.unknown.length > 0 || state.ptr) {
        // Checks turned off for this IP: what they found no longer applies.
        const { ptr: _ptr, ...rest } = state;
        state = { ...rest, listings: [], unknown: [] };
      }
      if (counts) {
        const resumedAt = state.resumedAt ?? 0;
        const mine =
          resumedAt > windowStart
            ? (await verdicts.read(pool, resumedAt, now)).get(ip.address)
            : counts.get(ip.address);
        if (mine) state = { ...state, receivers: mine };
      } else if (state.receivers) {
        const { receivers: _r, ...rest } = state;
        state = rest;
      }
      const next = decidePause(state, settings, now);
      if (stored && same(stored.state, next)) continue;
      if (await store.put(pool.key, next, stored?.revision ?? 0)) {
        report(pool, stored?.state, next);
        const fresh = await store.get(pool.key, ip.address);
        if (fresh) remember(fresh);
      }
      // else: another replica (or a human's resume) wrote first; the next round sees it.
    }
    // An IP taken out of the pool leaves nothing behind to show or to honour.
    for (const address of [...byIp.keys()]) {
      if (pool.ips.some((ip) => ip.address === address)) continue;
      await store.remove(pool.key, address);
      byIp.delete(address);
      pausedSets.delete(pool.key);
    }
    const all = allPaused(pool);
    if (all !== (allPausedBefore.get(pool.key) ?? false)) {
      if (all) {
        log.error(
          { pool: pool.key },
          'every IP of the pool is paused by the reputation guard: its mail is deferred, not bounced, until one resumes',
        );
      } else if (allPausedBefore.has(pool.key)) {
        log.info({ pool: pool.key }, 'the pool has an IP that may send again');
      }
      allPausedBefore.set(pool.key, all);
    }
  }

  function pausedOf(pool: string): ReadonlySet<string> {
    const known = pausedSets.get(pool);
    if (known) return known;
    const out = new Set<string>();
    for (const [address, entry] of cache.get(pool) ?? []) if (entry.state.paused) out.add(address);
    const set = out.size > 0 ? out : EMPTY;
    pausedSets.set(pool, set);
    return set;
  }

  function allPaused(pool: CompiledPool): boolean {
    const paused = pausedOf(pool.key);
    const usable = pool.ips.filter((ip) => ip.pod !== undefined && !ip.draining);
    return usable.length > 0 && usable.every((ip) => paused.has(ip.address));
  }

  let running: Promise<void> | undefined;
  let again = false;
  async function round(): Promise<void> {
    for (const pool of pools.all()) {
      try {
        await checkPool(pool);
      } catch (err) {
        log.warn({ err, pool: pool.key }, 'reputation round failed; the next one tries again');
      }
    }
  }
  function tick(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = round().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        void tick();
      }
    });
    return running;
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      tick().finally(schedule);
    }, deps.tickMs);
    timer.unref();
  };
  pools.onChange(() => {
    if (!stopped) void tick();
  });
  void tick();
  schedule();

  return {
    paused: pausedOf,
    snapshot() {
      return pools.all().map((pool) => ({
        pool: pool.key,
        states: [...(cache.get(pool.key)?.values() ?? [])]
          .filter((e) => pool.ips.some((ip) => ip.address === e.state.address))
          .map((e) => e.state),
        allPaused: allPaused(pool),
      }));
    },
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
      stopWatch();
      dns.close();
    },
  };
}
