/**
 * Applying the desired sender objects (desired/connection-secret.ts, desired/statefulset.ts)
 * and reading back how far they got. Live objects come from the watch caches; an object of
 * the pool's names that the pool does not own is never touched.
 */
import type { V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import type { SenderSettings } from './config.ts';
import {
  buildConnectionSecret,
  connectionSecretCurrent,
  connectionSecretName,
} from './desired/connection-secret.ts';
import { isOwnedBy } from './desired/ownership.ts';
import {
  buildSenderStatefulSet,
  senderStatefulSetName,
  statefulSetNeedsUpdate,
} from './desired/statefulset.ts';
import type { SendersState } from './desired/status.ts';
import { KubeApiError, NameConflictError } from './errors.ts';
import { EVENT_REASONS, type PoolEvent } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { RelayPoolObject } from './kube/objects.ts';
import type { ResolvedSecrets } from './secrets.ts';

export interface SendersDeps {
  client: KubeClient;
  live(namespace: string, name: string): V1StatefulSet | undefined;
  liveSecret(namespace: string, name: string): V1Secret | undefined;
  sender: SenderSettings;
}

function conflict(
  pool: RelayPoolObject,
  kind: string,
  name: string,
  options: { retry?: boolean; cause?: unknown } = {},
): NameConflictError {
  return new NameConflictError(
    `${kind} ${pool.metadata.namespace}/${name} exists and does not belong to this pool: rename or delete it`,
    options,
  );
}

/** Creates or puts right the Secret the sender pods connect with. */
async function applyConnection(deps: SendersDeps, pool: RelayPoolObject): Promise<void> {
  const { namespace, uid } = pool.metadata;
  const name = connectionSecretName(pool.metadata.name);
  const desired = buildConnectionSecret(pool, deps.sender.connection);
  const live = deps.liveSecret(namespace, name);
  if (!live) {
    // The cache holds only Secrets with the sender labels: an AlreadyExists is a Secret of
    // that name someone else made (or, rarely, this pool's own one not yet in the cache).
    // Its removal comes with no watch event, so the queue retries with back-off.
    try {
      await deps.client.createSecret(namespace, desired);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) {
        throw conflict(pool, 'Secret', name, { retry: true, cause: err });
      }
      throw err;
    }
    return;
  }
  if (!isOwnedBy(live, uid)) throw conflict(pool, 'Secret', name);
  if (connectionSecretCurrent(live, desired)) return;
  await deps.client.replaceSecret(namespace, name, {
    ...desired,
    metadata: { ...desired.metadata, resourceVersion: live.metadata?.resourceVersion },
  });
}

/** Creates or updates the pool's sender objects; returns the Events worth recording. */
export async function applySenders(
  deps: SendersDeps,
  pool: RelayPoolObject,
  replicas: number,
  secrets: ResolvedSecrets,
): Promise<PoolEvent[]> {
  const { namespace, uid } = pool.metadata;
  await applyConnection(deps, pool);
  const name = senderStatefulSetName(pool.metadata.name);
  const desired = buildSenderStatefulSet({
    pool,
    replicas,
    sender: deps.sender,
    dkimSecrets: secrets.dkimSecrets,
    dkimVersion: secrets.dkimVersion,
  });
  const live = deps.live(namespace, name);
  if (!live) {
    try {
      await deps.client.createStatefulSet(namespace, desired);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      // Ours and not yet in the cache (retry when it is), or someone else's.
      const existing = await deps.client.readStatefulSet(namespace, name);
      if (existing && !isOwnedBy(existing, uid)) throw conflict(pool, 'StatefulSet', name);
      throw err;
    }
    const note = `created StatefulSet ${name} with ${replicas} sender pod(s)`;
    return [{ type: 'Normal', reason: EVENT_REASONS.SendersCreated, action: 'Create', note }];
  }
  if (!isOwnedBy(live, uid)) throw conflict(pool, 'StatefulSet', name);
  if (!statefulSetNeedsUpdate(live, desired)) return [];
  await deps.client.replaceStatefulSet(namespace, name, {
    ...desired,
    metadata: { ...desired.metadata, resourceVersion: live.metadata?.resourceVersion },
  });
  const before = live.spec?.replicas ?? 0;
  if (before !== replicas) {
    const note = `scaled StatefulSet ${name} from ${before} to ${replicas} sender pod(s)`;
    return [{ type: 'Normal', reason: EVENT_REASONS.SendersScaled, action: 'Scale', note }];
  }
  const note = `updated the pod template of StatefulSet ${name}`;
  return [{ type: 'Normal', reason: EVENT_REASONS.SendersUpdated, action: 'Update', note }];
}

/** How far the live StatefulSet is towards `desired` ready pods; undefined when absent. */
export function sendersState(
  live: V1StatefulSet | undefined,
  desired: number,
): SendersState | undefined {
  if (!live) return undefined;
  const status = live.status;
  const generation = live.metadata?.generation ?? 0;
  const upToDate =
    live.spec?.replicas === desired &&
    (status?.observedGeneration ?? 0) >= generation &&
    (status?.updatedReplicas ?? 0) >= desired &&
    (status?.replicas ?? 0) === desired;
  return { desired, ready: Math.min(status?.readyReplicas ?? 0, desired), upToDate };
}
