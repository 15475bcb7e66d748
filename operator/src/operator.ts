/**
 * The operator: watch caches of RelayPools, the Secrets they name, and the StatefulSets and
 * Secrets they own, on every replica; a work queue that reconciles pools one key at a time, running only
 * on the replica holding the leader Lease; a periodic status refresh; and a watch on the
 * published policies that puts right a change made behind the operator's back.
 *
 * ```ts
 * const operator = createOperator({ config, kubeConfig, nats, registry, log });
 * await operator.start();
 * await operator.stop({ release: true });
 * ```
 */

import type { Logger } from '@hikyaku/core';
import { openPoolBucket, openReputationStore, openSourceReports, poolKey } from '@hikyaku/core';
import type { KubeConfig, V1Node, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Registry } from 'prom-client';
import type { OperatorConfig } from './config.ts';
import { LABELS, SENDER_SELECTOR } from './desired/labels.ts';
import { nodeUnavailableReason } from './desired/nodes.ts';
import { controllingPool } from './desired/ownership.ts';
import { createEventRecorder } from './events.ts';
import { createKubeClient, type WatchedResource } from './kube/client.ts';
import { createInformer, type Informer } from './kube/informer.ts';
import { createNamedSecrets } from './kube/named-secrets.ts';
import { type ObjectLike, objectKey, type RelayPoolObject } from './kube/objects.ts';
import { createLeaderElector, type LeaderElector } from './leader.ts';
import { createOperatorMetrics } from './metrics.ts';
import { createPolicyStore, type PolicyStore } from './policy-store.ts';
import { createWorkQueue } from './queue.ts';
import { createReconciler } from './reconcile.ts';
import { applyResumeAnnotation } from './reputation.ts';
import { createSecretResolver } from './secrets.ts';
import type { IpStatusReader } from './status-writer.ts';

export interface OperatorDeps {
  config: OperatorConfig;
  kubeConfig: KubeConfig;
  nats: { js: JetStreamClient; jsm: JetStreamManager };
  /** Where the per-IP status rows come from; without it the rows carry no counters. */
  ipStatus?: IpStatusReader;
  registry: Registry;
  log: Logger;
  /** scrypt cost of submitter password hashes (tests lower it); the library default otherwise. */
  passwordHashCost?: number;
  now?: () => number;
}

export interface Operator {
  /** Starts watching; resolves once the caches are loaded and the election has begun. */
  start(): Promise<void>;
  /** Stops reconciling, then campaigning (`release` hands the Lease over at once), then watching. */
  stop(options?: { release?: boolean }): Promise<void>;
  isLeader(): boolean;
  /** The caches are loaded: what /readyz reports. */
  ready(): boolean;
}

/**
 * A reconcile waits this long for the first list of a Secret its pool names, then gives
 * way to the queue's back-off instead of holding a worker while the API is failing.
 */
const SECRET_LOAD_TIMEOUT_MS = 10_000;

function addresses(pool: RelayPoolObject | undefined): string[] {
  return (pool?.spec?.ips ?? []).map((ip) => ip.address);
}

/** Anything but a status-only change: spec (generation), deletion, finalizers. */
function worthReconciling(pool: RelayPoolObject, old: RelayPoolObject): boolean {
  const m = pool.metadata;
  const o = old.metadata;
  return (
    m.generation !== o.generation ||
    m.deletionTimestamp !== o.deletionTimestamp ||
    JSON.stringify(m.finalizers ?? []) !== JSON.stringify(o.finalizers ?? [])
  );
}

export function createOperator(deps: OperatorDeps): Operator {
  const { config, log } = deps;
  const now = deps.now ?? Date.now;
  const metrics = createOperatorMetrics(deps.registry);
  let elector: LeaderElector | undefined;
  let leading = !config.leaderElection.enabled;
  const isLeader = () => (elector ? elector.isLeader() : leading);

  const client = createKubeClient({
    kubeConfig: deps.kubeConfig,
    namespace: config.watchNamespace,
    managedSelector: SENDER_SELECTOR,
    isLeader,
  });
  const informerOf = <T extends ObjectLike>(resource: WatchedResource<T>): Informer<T> =>
    createInformer({
      resource,
      log,
      watchTimeoutSeconds: config.watchTimeoutSeconds,
      resyncIntervalMs: config.resyncIntervalMs,
      retryBaseMs: config.retryBaseMs,
      // A cache out of date holds every pool back: its retries stay frequent.
      retryMaxMs: Math.min(config.retryMaxMs, 30_000),
      onRestart: (reason) => metrics.watchRestart(resource.name, reason),
    });
  const pools = informerOf<RelayPoolObject>(client.pools);
  const ownedSecrets = informerOf<V1Secret>(client.ownedSecrets);
  const namedSecrets = createNamedSecrets({
    informer: (namespace, name) => informerOf(client.namedSecret(namespace, name)),
    loadTimeoutMs: SECRET_LOAD_TIMEOUT_MS,
    log,
  });
  const statefulSets = informerOf<V1StatefulSet>(client.statefulSets);
  const nodes = informerOf<V1Node>(client.nodes);
  const secrets = createSecretResolver({
    secret: (namespace, name) => namedSecrets.get(namespace, name),
    ...(deps.passwordHashCost ? { hashCost: deps.passwordHashCost } : {}),
  });
  let store: PolicyStore | undefined;
  let stopReputationWatch: (() => void) | undefined;
  let ticker: NodeJS.Timeout | undefined;

  const queue = createWorkQueue({
    workers: config.workers,
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: config.retryMaxMs,
    log,
    process: (key) => reconciler().reconcile(key),
    onOutcome(outcome, _key, seconds) {
      metrics.reconciled(outcome, seconds);
      metrics.queueDepth(queue.depth());
    },
  });
  const enqueue = (key: string) => {
    queue.add(key);
    metrics.queueDepth(queue.depth());
  };
  const enqueueAll = () => {
    for (const p of pools.list()) enqueue(objectKey(p.metadata.namespace, p.metadata.name));
  };
  /** Pools listing any of these addresses: whose IPs another pool holds may change. */
  const enqueuePeers = (self: RelayPoolObject, list: string[]) => {
    if (list.length === 0) return;
    for (const p of pools.list()) {
      if (p.metadata.uid === self.metadata.uid) continue;
      if (addresses(p).some((a) => list.includes(a))) {
        enqueue(objectKey(p.metadata.namespace, p.metadata.name));
      }
    }
  };

  /** Ends the watches of Secrets no pool names any more; each reconcile starts the others. */
  const retainNamedSecrets = () => {
    const keys = new Set<string>();
    for (const p of pools.list()) {
      if (p.metadata.deletionTimestamp) continue;
      for (const n of secrets.referenced(p)) keys.add(objectKey(p.metadata.namespace, n));
    }
    namedSecrets.retain(keys);
  };

  pools.on({
    add(p) {
      enqueue(objectKey(p.metadata.namespace, p.metadata.name));
      enqueuePeers(p, addresses(p));
    },
    update(p, old) {
      if (!worthReconciling(p, old)) return;
      enqueue(objectKey(p.metadata.namespace, p.metadata.name));
      enqueuePeers(p, [...addresses(p), ...addresses(old)]);
      retainNamedSecrets();
    },
    delete(p) {
      enqueue(objectKey(p.metadata.namespace, p.metadata.name));
      enqueuePeers(p, addresses(p));
      retainNamedSecrets();
    },
  });
  const onOwnedSecret = (s: V1Secret) => {
    // A sender connection Secret: its pool puts it right if it was changed.
    const owner = controllingPool(s);
    if (owner) enqueue(objectKey(s.metadata?.namespace, owner));
  };
  ownedSecrets.on({ add: onOwnedSecret, update: onOwnedSecret, delete: onOwnedSecret });
  const onNamedSecret = (s: V1Secret) => {
    for (const p of pools.list()) {
      if (p.metadata.namespace !== s.metadata?.namespace) continue;
      if (secrets.referenced(p).includes(s.metadata?.name ?? '')) {
        enqueue(objectKey(p.metadata.namespace, p.metadata.name));
      }
    }
  };
  namedSecrets.on({ add: onNamedSecret, update: onNamedSecret, delete: onNamedSecret });
  const onStatefulSet = (s: V1StatefulSet) => {
    const name = controllingPool(s) ?? s.metadata?.labels?.[LABELS.pool];
    if (name) enqueue(objectKey(s.metadata?.namespace, name));
  };
  statefulSets.on({ add: onStatefulSet, update: onStatefulSet, delete: onStatefulSet });
  /** Pools whose IPs a node holds (egress mode hostNetwork): it may have become (un)able. */
  const onNode = (n: V1Node) => {
    for (const p of pools.list()) {
      if (p.spec.ips.some((ip) => ip.node === n.metadata?.name)) {
        enqueue(objectKey(p.metadata.namespace, p.metadata.name));
      }
    }
  };
  nodes.on({
    add: onNode,
    update(n, old) {
      if (nodeUnavailableReason('', n) !== nodeUnavailableReason('', old)) onNode(n);
    },
    delete: onNode,
  });

  let reconcilerInstance: ReturnType<typeof createReconciler> | undefined;
  function reconciler() {
    if (!reconcilerInstance) throw new Error('the operator has not been started');
    return reconcilerInstance;
  }

  function startedLeading(): void {
    leading = true;
    metrics.leader(true);
    log.info({ identity: config.leaderElection.identity }, 'leading: reconciling RelayPools');
    // Another leader may have acted since this replica last reconciled.
    reconcilerInstance?.reset();
    queue.start();
    enqueueAll();
    ticker = setInterval(enqueueAll, config.statusIntervalMs);
  }

  function stoppedLeading(): void {
    leading = false;
    metrics.leader(false);
    clearInterval(ticker);
    queue.pause().catch((err: unknown) => log.error({ err }, 'pausing the work queue failed'));
  }

  return {
    async start() {
      const kv = await openPoolBucket(deps.nats.js, config.streamReplicas);
      store = createPolicyStore({ kv, jsm: deps.nats.jsm, isLeader, log });
      const reports = await openSourceReports(deps.nats.js, config.streamReplicas);
      const reputation = await openReputationStore(deps.nats.js, config.streamReplicas);
      const policyStore = store;
      reconcilerInstance = createReconciler({
        client,
        pools,
        ownedSecrets,
        namedSecrets,
        statefulSets,
        nodes,
        store: policyStore,
        secrets,
        ...(deps.ipStatus ? { ipStatus: deps.ipStatus } : {}),
        absentSources: (key) => reports.listAbsent(key),
        reputation: (key) => reputation.list(key),
        resume: async (pool, compiled) => {
          const resumed = await applyResumeAnnotation(reputation, pool, compiled, now(), log);
          if (resumed.length > 0)
            log.info({ pool: compiled.key, ips: resumed }, 'resumed by annotation');
        },
        complaints: (key) => reports.listComplaints(key),
        submitterComplaints: (key) => reports.listSubmitterComplaints(key),
        events: createEventRecorder({
          client,
          instance: config.leaderElection.identity,
          log,
          onFailure: () => metrics.eventFailed(),
        }),
        metrics,
        log,
        sender: config.sender,
        drainGraceMs: config.drainGraceMs,
        drainPollMs: config.drainPollMs,
        sendersReadyTimeoutMs: config.sendersReadyTimeoutMs,
        resyncIntervalMs: config.resyncIntervalMs,
        now,
      });
      const poolOfKey = (key: string): void => {
        const pool = pools
          .list()
          .find((p) => poolKey(p.metadata.namespace, p.metadata.name) === key);
        if (pool) enqueue(objectKey(pool.metadata.namespace, pool.metadata.name));
      };
      // An IP paused or resumed shows on the pool without waiting for the status interval.
      stopReputationWatch = await reputation.watch(
        (entry) => poolOfKey(entry.pool),
        (err) => log.warn({ err }, 'reputation watch ended; the status interval still refreshes'),
      );
      await policyStore.watch((key) => {
        const pool = pools
          .list()
          .find((p) => poolKey(p.metadata.namespace, p.metadata.name) === key);
        if (pool) enqueue(objectKey(pool.metadata.namespace, pool.metadata.name));
      });
      for (const informer of [pools, ownedSecrets, statefulSets, nodes]) informer.start();
      await Promise.all([
        pools.synced(),
        ownedSecrets.synced(),
        statefulSets.synced(),
        nodes.synced(),
      ]);
      const le = config.leaderElection;
      if (!le.enabled) {
        startedLeading();
        return;
      }
      elector = createLeaderElector({
        client,
        namespace: le.namespace,
        name: le.name,
        identity: le.identity,
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        log,
        onStartedLeading: startedLeading,
        onStoppedLeading: stoppedLeading,
      });
      elector.start();
    },
    async stop(options = {}) {
      clearInterval(ticker);
      await queue.stop();
      if (elector) await elector.stop(options);
      else if (leading) stoppedLeading();
      await Promise.all([
        pools.stop(),
        ownedSecrets.stop(),
        namedSecrets.stop(),
        statefulSets.stop(),
        nodes.stop(),
      ]);
      store?.stop();
      stopReputationWatch?.();
    },
    isLeader,
    ready: () =>
      pools.hasSynced() &&
      ownedSecrets.hasSynced() &&
      statefulSets.hasSynced() &&
      nodes.hasSynced(),
  };
}
