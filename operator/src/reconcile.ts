/**
 * One reconcile of one RelayPool, by key: the finalizer, the sync of its data plane
 * (sync.ts) and its status (status-writer.ts), or, for a pool being deleted, the removal of
 * its policy from NATS KV and then of the finalizer.
 *
 * A reconcile whose inputs are the same as last time (the pool's generation, the Secrets it
 * reads, its StatefulSet, its KV entry, the IPs other pools hold) and whose generation the
 * status already reports skips the sync and only refreshes the status rows. Failures the
 * user must fix (a missing Secret, an invalid key) are reported in the status and wait for
 * a change; anything else is reported and thrown, for the queue to retry with back-off.
 */

import type {
  CompiledPool,
  ComplaintReport,
  Logger,
  SourceAbsentReport,
  SubmitterComplaintReport,
} from '@hikyaku/core';
import { poolKey } from '@hikyaku/core';
import type { IpReputation } from '@hikyaku/core/policy';
import type { V1Node, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import type { SenderSettings } from './config.ts';
import { connectionSecretName } from './desired/connection-secret.ts';
import { nodeUnavailableReason } from './desired/nodes.ts';
import { senderStatefulSetName } from './desired/statefulset.ts';
import { removeCiliumPolicies } from './egress-policies.ts';
import { asPoolError, KubeApiError, NotLeaderError } from './errors.ts';
import { EVENT_REASONS, type EventRecorder, type PoolEvent } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { Informer } from './kube/informer.ts';
import type { NamedSecrets } from './kube/named-secrets.ts';
import { type RelayPoolObject, type RelayPoolStatus, splitKey } from './kube/objects.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { PolicyStore } from './policy-store.ts';
import type { ProcessResult } from './queue.ts';
import type { SecretResolver } from './secrets.ts';
import { poolStatefulSets } from './senders.ts';
import type { IpStatusReader } from './status-writer.ts';
import { writeStatus } from './status-writer.ts';
import { type DrainClock, findUnassignable, type SyncResult, syncPool } from './sync.ts';

export const FINALIZER = 'hikyaku.io/policy';

export interface ReconcilerDeps {
  client: KubeClient;
  pools: Informer<RelayPoolObject>;
  ownedSecrets: Informer<V1Secret>;
  namedSecrets: NamedSecrets;
  statefulSets: Informer<V1StatefulSet>;
  /** Absent: no node is known (every hostNetwork IP reads as on a missing node). */
  nodes?: Informer<V1Node>;
  store: PolicyStore;
  secrets: SecretResolver;
  ipStatus?: IpStatusReader;
  absentSources?: (pool: string) => Promise<SourceAbsentReport[]>;
  /** Each IP's standing with the reputation guard. */
  reputation?: (pool: string) => Promise<IpReputation[]>;
  /** Carries out a resume the pool's annotation asks for (reputation.ts). */
  resume?: (pool: RelayPoolObject, compiled: CompiledPool) => Promise<void>;
  /** Sender domains the scheduler reported over their complaint guard's lines. */
  complaints?: (pool: string) => Promise<ComplaintReport[]>;
  /** Submitters the scheduler reported over their complaint guard's lines. */
  submitterComplaints?: (pool: string) => Promise<SubmitterComplaintReport[]>;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  sender: SenderSettings;
  drainGraceMs: number;
  drainPollMs: number;
  sendersReadyTimeoutMs: number;
  /** A remembered sync is trusted this long at most. */
  resyncIntervalMs: number;
  now(): number;
}

export interface Reconciler {
  reconcile(key: string): Promise<ProcessResult>;
  /** Drops what is remembered (on gaining the lease: another leader may have acted). */
  reset(): void;
}

interface Memory {
  fingerprint: string;
  at: number;
  sync: SyncResult;
  status?: RelayPoolStatus;
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const memory = new Map<string, Memory>();
  const drainClock: DrainClock = new Map();
  const live = (namespace: string, name: string) => deps.statefulSets.get(namespace, name);
  const node = (name: string) => deps.nodes?.get(undefined, name);
  const sendersDeps = {
    client: deps.client,
    live,
    allLive: () => deps.statefulSets.list(),
    liveSecret: (namespace: string, name: string) => deps.ownedSecrets.get(namespace, name),
    sender: deps.sender,
    hostPortBook: new Map(),
  };
  const syncDeps = {
    ...sendersDeps,
    node,
    store: deps.store,
    secrets: deps.secrets,
    allPools: () => deps.pools.list(),
    drainGraceMs: deps.drainGraceMs,
    now: deps.now,
  };
  const statusDeps = {
    client: deps.client,
    live,
    poolLive: (pool: RelayPoolObject) => poolStatefulSets(sendersDeps, pool),
    ipStatus: deps.ipStatus,
    ...(deps.absentSources ? { absentSources: deps.absentSources } : {}),
    ...(deps.reputation ? { reputation: deps.reputation } : {}),
    ...(deps.complaints ? { complaints: deps.complaints } : {}),
    ...(deps.submitterComplaints ? { submitterComplaints: deps.submitterComplaints } : {}),
    metrics: deps.metrics,
    log: deps.log,
    sendersReadyTimeoutMs: deps.sendersReadyTimeoutMs,
    now: deps.now,
  };

  /** Everything a sync reads besides the spec: when it is unchanged, so is the outcome. */
  function fingerprint(pool: RelayPoolObject): string {
    const { namespace, name } = pool.metadata;
    const secrets = deps.secrets
      .referenced(pool)
      .map((s) => `${s}@${deps.namedSecrets.get(namespace, s)?.metadata?.resourceVersion ?? '-'}`);
    const sts = poolStatefulSets(sendersDeps, pool)
      .map((s) => `${s.metadata?.name}@${s.metadata?.resourceVersion}`)
      .sort();
    // Whether the nodes of a hostNetwork pool can run its senders.
    const nodes = [...new Set(pool.spec.ips.map((ip) => ip.node ?? ''))]
      .filter((n) => n !== '')
      .map((n) => `${n}:${nodeUnavailableReason(n, node(n)) ?? 'ok'}`);
    const connection =
      deps.ownedSecrets.get(namespace, connectionSecretName(name))?.metadata?.resourceVersion ??
      '-';
    const taken = findUnassignable(pool, deps.pools.list()).map((u) => u.why);
    return JSON.stringify([
      pool.metadata.uid,
      pool.metadata.generation,
      secrets,
      sts,
      nodes,
      connection,
      deps.store.knownRevision(poolKey(namespace, name)) ?? '-',
      taken,
    ]);
  }

  async function record(pool: RelayPoolObject, events: PoolEvent[]): Promise<void> {
    for (const event of events) await deps.events.record(pool.metadata, event);
  }

  async function finalize(key: string, pool: RelayPoolObject): Promise<ProcessResult> {
    const finalizers = pool.metadata.finalizers ?? [];
    forget(key, pool);
    if (!finalizers.includes(FINALIZER)) return { skipped: true };
    const { namespace, name } = pool.metadata;
    await deps.store.remove(poolKey(namespace, name));
    // Cluster-scoped, so not garbage-collected with the pool.
    if (pool.spec.egress?.mode === 'gateway') await removeCiliumPolicies(deps.client, pool);
    await record(pool, [
      {
        type: 'Normal',
        reason: EVENT_REASONS.PolicyRemoved,
        action: 'Delete',
        note: 'removed the policy from NATS KV; the sender StatefulSet is deleted with the pool',
      },
    ]);
    await deps.client.setPoolFinalizers(
      pool,
      finalizers.filter((f) => f !== FINALIZER),
    );
    return {};
  }

  function forget(key: string, pool: RelayPoolObject | undefined): void {
    memory.delete(key);
    if (!pool) return;
    const { namespace, name } = pool.metadata;
    deps.secrets.forget({ namespace, name });
    deps.metrics.forgetPool(poolKey(namespace, name));
    const prefix = `${poolKey(namespace, name)} `;
    for (const k of [...drainClock.keys()]) if (k.startsWith(prefix)) drainClock.delete(k);
  }

  async function status(key: string, pool: RelayPoolObject, sync: SyncResult): Promise<void> {
    if (deps.resume && sync.compiled) {
      await deps
        .resume(pool, sync.compiled)
        .catch((err: unknown) =>
          deps.log.warn({ err, pool: key }, 'could not resume the IPs the annotation names'),
        );
    }
    const previous = memory.get(key)?.status ?? pool.status;
    const written = await writeStatus(statusDeps, pool, sync, previous);
    const mem = memory.get(key);
    if (mem) mem.status = written.status;
    await record(pool, written.events);
  }

  return {
    reset() {
      memory.clear();
    },
    async reconcile(key) {
      const { namespace, name } = splitKey(key);
      let pool = deps.pools.get(namespace, name);
      if (!pool) {
        memory.delete(key);
        return { skipped: true };
      }
      if (pool.metadata.deletionTimestamp) return finalize(key, pool);
      if (!(pool.metadata.finalizers ?? []).includes(FINALIZER)) {
        const finalizers = [...(pool.metadata.finalizers ?? []), FINALIZER];
        pool = await deps.client.setPoolFinalizers(pool, finalizers);
      }
      await deps.namedSecrets.load(namespace, deps.secrets.referenced(pool));

      const remembered = memory.get(key);
      const unchanged =
        remembered !== undefined &&
        remembered.fingerprint === fingerprint(pool) &&
        deps.now() - remembered.at < deps.resyncIntervalMs &&
        remembered.sync.draining.length === 0 &&
        (remembered.status ?? pool.status)?.observedGeneration === pool.metadata.generation;
      if (unchanged) {
        await status(key, pool, remembered.sync);
        return { skipped: true };
      }

      let sync: SyncResult;
      try {
        sync = await syncPool(syncDeps, pool, drainClock);
      } catch (err) {
        if (err instanceof NotLeaderError) throw err;
        const e = asPoolError(err);
        const kept = remembered?.sync;
        const blocked: SyncResult = {
          compiled: kept?.compiled,
          problem: { reason: e.reason, message: e.message },
          draining: kept?.draining ?? [],
          unassignable: kept?.unassignable ?? [],
          replicas:
            kept?.replicas ?? live(namespace, senderStatefulSetName(name))?.spec?.replicas ?? 0,
          events: [],
        };
        if (e.transient) {
          // A conflict is optimistic concurrency at work (or a cache a moment behind), not
          // news; anything else is reported if the API lets us. The queue retries either way.
          const conflict = err instanceof KubeApiError && err.status === 409;
          if (!conflict) {
            await status(key, pool, blocked).catch((statusErr: unknown) =>
              deps.log.warn(
                { err: statusErr, pool: key },
                'cannot report the failure in the status',
              ),
            );
          }
          throw err;
        }
        memory.set(key, {
          fingerprint: fingerprint(pool),
          at: deps.now(),
          sync: blocked,
          status: memory.get(key)?.status,
        });
        await status(key, pool, blocked);
        return {};
      }
      memory.set(key, {
        fingerprint: fingerprint(pool),
        at: deps.now(),
        sync,
        status: remembered?.status,
      });
      await record(pool, sync.events);
      await status(key, pool, sync);
      return sync.draining.length > 0 ? { requeueAfterMs: deps.drainPollMs } : {};
    },
  };
}
