/**
 * Bringing one pool's data plane in line with its spec: Secrets resolved, removed IPs
 * drained, IPs assigned to pods, the sender StatefulSet applied and the compiled policy
 * published to NATS KV. The StatefulSet is applied before the policy is published, so an
 * added IP's pod exists (or is starting) when the policy names it; a removed IP stays in
 * the policy, marked draining (no new jobs) and still owned by its pod, until its queued
 * jobs are gone, and only then leaves the policy and, if its pod is no longer needed, the
 * StatefulSet.
 */

import type { IpSpec } from '@hikyaku/core';
import { type CompiledIp, type CompiledPool, compilePool, poolKey } from '@hikyaku/core';
import { planAssignment } from './desired/assignment.ts';
import { MAX_POOL_NAME_LENGTH, senderStatefulSetName } from './desired/statefulset.ts';
import type { DrainingIp, UnassignableIp } from './desired/status.ts';
import { InvalidSpecError, NameTooLongError, PoolError, type Reason } from './errors.ts';
import { EVENT_REASONS, type PoolEvent } from './events.ts';
import type { RelayPoolObject } from './kube/objects.ts';
import type { PolicyStore, PublishedPolicy } from './policy-store.ts';
import type { SecretResolver } from './secrets.ts';
import { applySenders, type SendersDeps } from './senders.ts';

export interface SyncResult {
  /** The policy in force: the one just published, or the last one when blocked. */
  compiled?: CompiledPool;
  problem?: { reason: Reason; message: string };
  draining: DrainingIp[];
  unassignable: UnassignableIp[];
  /** Sender pods the StatefulSet should run. */
  replicas: number;
  events: PoolEvent[];
}

export interface SyncDeps extends SendersDeps {
  store: PolicyStore;
  secrets: SecretResolver;
  /** Every pool known, to find IPs another pool already holds. */
  allPools(): RelayPoolObject[];
  drainGraceMs: number;
  now(): number;
}

/** Draining start times by pool key and address; kept across reconciles of one leader. */
export type DrainClock = Map<string, number>;

function olderThan(a: RelayPoolObject, b: RelayPoolObject): boolean {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb;
  return (
    `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}`
  );
}

/** IPs of `pool` that an older pool already lists: an address sends for one pool only. */
export function findUnassignable(pool: RelayPoolObject, all: RelayPoolObject[]): UnassignableIp[] {
  const out: UnassignableIp[] = [];
  for (const ip of pool.spec.ips) {
    const holder = all.find(
      (other) =>
        other.metadata.uid !== pool.metadata.uid &&
        olderThan(other, pool) &&
        other.spec.ips.some((o) => o.address === ip.address),
    );
    if (holder) {
      const where = `${holder.metadata.namespace}/${holder.metadata.name}`;
      out.push({
        address: ip.address,
        why: `${ip.address} is already used by RelayPool ${where}; remove it from one of the two pools`,
      });
    }
  }
  return out;
}

function asSpec(ip: CompiledIp): IpSpec {
  return {
    address: ip.address,
    hostname: ip.hostname,
    ...(ip.warmupStartDate ? { warmup: { startDate: ip.warmupStartDate } } : {}),
  };
}

async function drainStep(
  deps: SyncDeps,
  key: string,
  published: PublishedPolicy | undefined,
  active: Set<string>,
  clock: DrainClock,
): Promise<{ draining: DrainingIp[]; drainingIps: CompiledIp[]; events: PoolEvent[] }> {
  const draining: DrainingIp[] = [];
  const drainingIps: CompiledIp[] = [];
  const events: PoolEvent[] = [];
  for (const ip of published?.pool.ips ?? []) {
    if (!ip.pod || active.has(ip.address)) {
      clock.delete(`${key} ${ip.address}`);
      continue;
    }
    const jobs = await deps.store.pendingJobs(key, ip.address);
    const clockKey = `${key} ${ip.address}`;
    const since = clock.get(clockKey) ?? deps.now();
    if (!clock.has(clockKey)) {
      clock.set(clockKey, since);
      const note = `draining ${ip.address} (${jobs} queued jobs) before removing it from ${ip.pod}`;
      events.push({ type: 'Normal', reason: EVENT_REASONS.IpDraining, action: 'Drain', note });
    }
    if (jobs > 0 || deps.now() - since < deps.drainGraceMs) {
      draining.push({ address: ip.address, jobs });
      drainingIps.push(ip);
    } else {
      clock.delete(clockKey);
      const note = `removed ${ip.address} from the pool's assignment; it was drained from ${ip.pod}`;
      events.push({ type: 'Normal', reason: EVENT_REASONS.IpRemoved, action: 'Drain', note });
    }
  }
  return { draining, drainingIps, events };
}

export async function syncPool(
  deps: SyncDeps,
  pool: RelayPoolObject,
  clock: DrainClock,
): Promise<SyncResult> {
  const { name, namespace } = pool.metadata;
  if (name.length > MAX_POOL_NAME_LENGTH) {
    throw new NameTooLongError(
      `the pool name has ${name.length} characters; sender pod names need it to have at most ${MAX_POOL_NAME_LENGTH}`,
    );
  }
  const key = poolKey(namespace, name);
  const published = await deps.store.read(key);
  let resolved: Awaited<ReturnType<SecretResolver['resolve']>>;
  try {
    resolved = await deps.secrets.resolve(pool, published?.pool);
  } catch (err) {
    if (!(err instanceof PoolError) || err.transient) throw err;
    const replicas = deps.live(namespace, senderStatefulSetName(name))?.spec?.replicas ?? 0;
    const problem = { reason: err.reason, message: err.message };
    return {
      compiled: published?.pool,
      problem,
      draining: [],
      unassignable: [],
      replicas,
      events: [],
    };
  }

  const unassignable = findUnassignable(pool, deps.allPools());
  const taken = new Set(unassignable.map((u) => u.address));
  const active = pool.spec.ips.map((ip) => ip.address).filter((a) => !taken.has(a));
  const drained = await drainStep(deps, key, published, new Set(active), clock);
  const previous: Record<string, string> = {};
  for (const ip of published?.pool.ips ?? []) if (ip.pod) previous[ip.address] = ip.pod;
  const plan = planAssignment({
    poolName: name,
    addresses: active,
    draining: drained.drainingIps.map((ip) => ip.address),
    ipsPerPod: pool.spec.senders?.ipsPerPod ?? 1,
    previous,
  });

  const inSpec = new Set(pool.spec.ips.map((ip) => ip.address));
  const extra = drained.drainingIps.filter((ip) => !inSpec.has(ip.address)).map(asSpec);
  let compiled: CompiledPool;
  try {
    compiled = compilePool(
      {
        apiVersion: pool.apiVersion ?? '',
        kind: pool.kind ?? '',
        metadata: { ...pool.metadata },
        spec: { ...pool.spec, ips: [...pool.spec.ips, ...extra] },
      },
      {
        assignment: plan.assignment,
        passwordHashes: resolved.passwordHashes,
        draining: drained.draining.map((d) => d.address),
      },
    );
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InvalidSpecError(`the spec cannot be compiled: ${why}`, err);
  }

  const events = [...drained.events];
  events.push(...(await applySenders(deps, pool, plan.replicas, resolved)));
  const text = JSON.stringify(compiled);
  if (published?.text !== text) {
    await deps.store.write(compiled);
    if (published?.pool.generation !== compiled.generation) {
      const note = `published the policy of generation ${compiled.generation} to NATS KV`;
      events.push({
        type: 'Normal',
        reason: EVENT_REASONS.PolicyPublished,
        action: 'Publish',
        note,
      });
    }
  }
  return {
    compiled,
    draining: drained.draining,
    unassignable,
    replicas: plan.replicas,
    events,
  };
}
