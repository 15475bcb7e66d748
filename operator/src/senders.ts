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
import { EGRESS_ANNOTATIONS, slotShape } from './desired/egress.ts';
import { chooseHostPort, type HostPortClaim } from './desired/host-ports.ts';
import { LABELS } from './desired/labels.ts';
import { isOwnedBy } from './desired/ownership.ts';
import { type Slot, slotStatefulSetName } from './desired/slots.ts';
import {
  buildSenderStatefulSet,
  SENDER_CONTAINER,
  senderStatefulSetName,
  statefulSetNeedsUpdate,
} from './desired/statefulset.ts';
import type { SendersState } from './desired/status.ts';
import { HostPortsExhaustedError, KubeApiError, NameConflictError } from './errors.ts';
import { EVENT_REASONS, type PoolEvent } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { RelayPoolObject } from './kube/objects.ts';
import type { ResolvedSecrets } from './secrets.ts';

export interface SendersDeps {
  client: KubeClient;
  live(namespace: string, name: string): V1StatefulSet | undefined;
  /** Every sender StatefulSet the operator manages, of every pool (the watch cache). */
  allLive(): V1StatefulSet[];
  liveSecret(namespace: string, name: string): V1Secret | undefined;
  sender: SenderSettings;
  /** Host ports handed out by this leader, by `namespace/StatefulSet`, until its cache shows them. */
  hostPortBook: Map<string, HostPortClaim>;
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
  await applyConnection(deps, pool);
  const desired = buildSenderStatefulSet({
    pool,
    replicas,
    sender: deps.sender,
    dkimSecrets: secrets.dkimSecrets,
    dkimVersion: secrets.dkimVersion,
    webhookSecrets: secrets.webhookSecrets ?? [],
  });
  const name = senderStatefulSetName(pool.metadata.name);
  const events = await applyStatefulSet(deps, pool, desired, replicas);
  // Slots of an egress mode the pool has left.
  events.push(...(await removeUnneeded(deps, pool, new Set([name]))));
  return events;
}

/** The pool's own sender StatefulSets in the cache, the pool-wide one and its slots. */
export function poolStatefulSets(deps: SendersDeps, pool: RelayPoolObject): V1StatefulSet[] {
  const { namespace, name, uid } = pool.metadata;
  return deps
    .allLive()
    .filter(
      (s) =>
        s.metadata?.namespace === namespace &&
        s.metadata?.labels?.[LABELS.pool] === name &&
        isOwnedBy(s, uid),
    );
}

async function removeUnneeded(
  deps: SendersDeps,
  pool: RelayPoolObject,
  keep: ReadonlySet<string>,
): Promise<PoolEvent[]> {
  const events: PoolEvent[] = [];
  const { namespace } = pool.metadata;
  for (const s of poolStatefulSets(deps, pool)) {
    const name = s.metadata?.name ?? '';
    if (keep.has(name)) continue;
    await deps.client.deleteStatefulSet(namespace, name, s.metadata?.resourceVersion);
    deps.hostPortBook.delete(`${namespace}/${name}`);
    const note = `deleted StatefulSet ${name}: the pool no longer needs it`;
    events.push({ type: 'Normal', reason: EVENT_REASONS.SendersScaled, action: 'Scale', note });
  }
  return events;
}

/** Every host port hostNetwork sender pods hold or were given, by node. */
function hostPortClaims(deps: SendersDeps): HostPortClaim[] {
  const claims = new Map<string, HostPortClaim>(deps.hostPortBook);
  for (const s of deps.allLive()) {
    const node = s.metadata?.annotations?.[EGRESS_ANNOTATIONS.node];
    const port = s.spec?.template.spec?.containers
      .find((c) => c.name === SENDER_CONTAINER)
      ?.ports?.find((p) => p.hostPort !== undefined)?.hostPort;
    if (!node || port === undefined) continue;
    const owner = `${s.metadata?.namespace}/${s.metadata?.name}`;
    if (!claims.has(owner)) claims.set(owner, { node, port, owner });
  }
  return [...claims.values()];
}

/**
 * Egress mode: one StatefulSet of one pod per slot (desired/slots.ts), shaped by the mode
 * (desired/egress.ts); the pool-wide StatefulSet and slots no longer planned are deleted.
 */
export async function applySlots(
  deps: SendersDeps,
  pool: RelayPoolObject,
  slots: readonly Slot[],
  secrets: ResolvedSecrets,
): Promise<PoolEvent[]> {
  await applyConnection(deps, pool);
  const { namespace } = pool.metadata;
  const events: PoolEvent[] = [];
  const keep = new Set<string>();
  for (const slot of slots) {
    const name = slotStatefulSetName(pool.metadata.name, slot.index);
    keep.add(name);
    let hostPort: number | undefined;
    if (pool.spec.egress?.mode === 'hostNetwork') {
      const owner = `${namespace}/${name}`;
      const current = hostPortClaims(deps).find((c) => c.owner === owner);
      const sameNode = current?.node === slot.group ? current.port : undefined;
      hostPort = chooseHostPort(
        slot.group,
        owner,
        hostPortClaims(deps),
        deps.sender.hostPorts,
        sameNode,
      );
      if (hostPort === undefined) {
        const { min, max } = deps.sender.hostPorts;
        throw new HostPortsExhaustedError(
          `every port of HIKYAKU_SENDER_HOST_PORTS (${min}-${max}) is held by a sender pod on node ${slot.group}: widen the range or spread the IPs over more nodes`,
        );
      }
      deps.hostPortBook.set(owner, { node: slot.group, port: hostPort, owner });
    }
    const desired = buildSenderStatefulSet({
      pool,
      replicas: 1,
      sender: deps.sender,
      dkimSecrets: secrets.dkimSecrets,
      dkimVersion: secrets.dkimVersion,
      webhookSecrets: secrets.webhookSecrets ?? [],
      slot: slotShape(pool, slot, hostPort),
    });
    events.push(...(await applyStatefulSet(deps, pool, desired, 1)));
  }
  events.push(...(await removeUnneeded(deps, pool, keep)));
  return events;
}

async function applyStatefulSet(
  deps: SendersDeps,
  pool: RelayPoolObject,
  desired: V1StatefulSet,
  replicas: number,
): Promise<PoolEvent[]> {
  const { namespace, uid } = pool.metadata;
  const name = desired.metadata?.name ?? '';
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

/** How far several StatefulSets are, together, towards their ready pods; undefined while one is absent. */
export function slotsState(
  lives: readonly (V1StatefulSet | undefined)[],
): SendersState | undefined {
  const states = lives.map((live) => sendersState(live, 1));
  if (states.some((s) => s === undefined)) return undefined;
  const known = states as SendersState[];
  return {
    desired: known.length,
    ready: known.reduce((sum, s) => sum + s.ready, 0),
    upToDate: known.every((s) => s.upToDate),
  };
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
