/**
 * `hikyaku remove-pools`: what the chart's pre-delete hook runs, so that `helm uninstall`
 * strands no RelayPool on the `hikyaku.io/policy` finalizer once the operator is gone.
 *
 * It deletes every RelayPool the operator manages while the operator still runs, and
 * waits: the operator finalizes each one as on any deletion (the policy leaves NATS KV,
 * then the finalizer; the sender StatefulSet follows by garbage collection). A pool still
 * held when the wait is over (no operator running, or one that cannot reach NATS) has the
 * finalizer removed here, its KV entry left behind and named in the log. A pool that
 * other finalizers still hold is reported, and the command fails, so that `helm uninstall`
 * stops and says so instead of leaving it behind unnoticed.
 */

import type { Logger } from '@hikyaku/core';
import { type Env, EnvReader, poolKey } from '@hikyaku/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { LOG_LEVELS } from './config.ts';
import { createKubeClient, type KubeClient } from './kube/client.ts';
import { objectKey, type RelayPoolObject } from './kube/objects.ts';
import { FINALIZER } from './reconcile.ts';

export interface RemovePoolsConfig {
  /** Kubeconfig file; '' = in-cluster (the pod's service account). */
  kubeconfig: string;
  /** The operator's HIKYAKU_WATCH_NAMESPACE: '' = every namespace. */
  watchNamespace: string;
  /** How long the operator has to finalize the deleted pools. */
  waitMs: number;
  pollMs: number;
  logLevel: string;
}

export function readRemovePoolsConfig(env: Env): RemovePoolsConfig {
  const r = new EnvReader(env);
  return r.done({
    kubeconfig: r.string('KUBECONFIG', ''),
    watchNamespace: r.string('HIKYAKU_WATCH_NAMESPACE', ''),
    waitMs: r.int('HIKYAKU_REMOVE_POOLS_WAIT_MS', 120_000, { min: 0 }),
    pollMs: r.int('HIKYAKU_REMOVE_POOLS_POLL_MS', 1000, { min: 10 }),
    logLevel: r.oneOf('HIKYAKU_LOG_LEVEL', LOG_LEVELS, 'info'),
  });
}

export interface RemovePoolsResult {
  /** namespace/name of the pools deleted here (not those already being deleted). */
  deleted: string[];
  /** Pools whose finalizer was removed here because the operator did not finalize them. */
  released: string[];
  /** Pools still present at the end, held by finalizers of others. */
  remaining: string[];
}

export interface RemovePoolsDeps {
  client: Pick<KubeClient, 'pools' | 'deletePool' | 'setPoolFinalizers'>;
  waitMs: number;
  pollMs: number;
  log: Logger;
  now?: () => number;
}

const keyOf = (p: RelayPoolObject) => objectKey(p.metadata.namespace, p.metadata.name);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function removePools(deps: RemovePoolsDeps): Promise<RemovePoolsResult> {
  const { client, log } = deps;
  const now = deps.now ?? Date.now;
  const list = async () => (await client.pools.list()).items;

  const deleted: string[] = [];
  for (const pool of await list()) {
    if (pool.metadata.deletionTimestamp) continue;
    await client.deletePool(pool.metadata.namespace, pool.metadata.name).catch((err: unknown) => {
      // Gone meanwhile is what was wanted.
      if ((err as { status?: number }).status !== 404) throw err;
    });
    deleted.push(keyOf(pool));
  }
  log.info({ pools: deleted }, 'deleted the RelayPools; waiting for the operator to finalize them');

  const waitUntil = async (deadline: number) => {
    let left = await list();
    while (left.length > 0 && now() < deadline) {
      await pause(deps.pollMs);
      left = await list();
    }
    return left;
  };

  let left = await waitUntil(now() + deps.waitMs);
  const released: string[] = [];
  for (const pool of left) {
    const finalizers = pool.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) continue;
    await client.setPoolFinalizers(
      pool,
      finalizers.filter((f) => f !== FINALIZER),
    );
    released.push(keyOf(pool));
    log.warn(
      { pool: keyOf(pool), kvKey: poolKey(pool.metadata.namespace, pool.metadata.name) },
      'the operator did not finalize this pool in time: removed its finalizer; its policy stays in NATS KV',
    );
  }
  if (released.length > 0) left = await waitUntil(now() + deps.pollMs * 10);
  const remaining = left.map(keyOf);
  for (const pool of left) {
    log.error(
      { pool: keyOf(pool), finalizers: pool.metadata.finalizers ?? [] },
      'this pool is still held by finalizers that are not the operator’s',
    );
  }
  return { deleted, released, remaining };
}

/** The command: 0 when no pool is left, 1 otherwise. */
export async function runRemovePools(
  kubeConfig: KubeConfig,
  config: RemovePoolsConfig,
  log: Logger,
): Promise<number> {
  const client = createKubeClient({
    kubeConfig,
    namespace: config.watchNamespace,
    managedSelector: '',
    // A one-shot command, not a replica of the operator: it writes without a Lease.
    isLeader: () => true,
  });
  const result = await removePools({
    client,
    waitMs: config.waitMs,
    pollMs: config.pollMs,
    log,
  });
  log.info(result, 'RelayPools removed');
  return result.remaining.length === 0 ? 0 : 1;
}
