/**
 * A minimal StatefulSet and Deployment controller: shortly after a workload changes, its
 * status reports the desired replicas as ready (or none, when a test turns readiness off)
 * and `observedGeneration` catches up with `generation`. No pods are created, unless pod
 * simulation is on: then a StatefulSet's pods are created and placed on Nodes
 * (placement.ts) and its status counts the pods that exist and are ready. Zero counts
 * the real API omits are omitted here too: `readyReplicas` on both kinds, and
 * `availableReplicas` on Deployments — read them with `?? 0`.
 */
import { KubeStatusError } from './errors.ts';
import { deepEqual, isRecord, type KubeObject } from './object.ts';
import type { PodPlacement } from './placement.ts';
import type { ResourceType } from './resources.ts';
import type { ApiVerbs } from './verbs.ts';
import type { Change } from './watch.ts';

export interface ReadinessTarget {
  kind?: 'StatefulSet' | 'Deployment';
  namespace?: string;
  name?: string;
}

export interface WorkloadControllers {
  /** Ready or not, for every workload or for the ones `target` names. */
  setReady(ready: boolean, target?: ReadinessTarget): void;
  onChange(change: Change): void;
  stop(): void;
}

const WORKLOAD_KEYS: Record<string, 'StatefulSet' | 'Deployment'> = {
  'statefulsets.apps': 'StatefulSet',
  'deployments.apps': 'Deployment',
};

function desiredStatus(
  kind: string,
  obj: KubeObject,
  ready: boolean,
  pods?: { pods: number; ready: number },
): Record<string, unknown> {
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const desired = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const replicas = pods ? pods.pods : desired;
  const readyCount = pods ? pods.ready : ready ? replicas : 0;
  const status: Record<string, unknown> = {
    observedGeneration: obj.metadata.generation,
    replicas,
    updatedReplicas: replicas,
  };
  if (readyCount > 0) {
    status.readyReplicas = readyCount;
    status.availableReplicas = readyCount;
  }
  if (kind === 'StatefulSet') {
    status.currentReplicas = replicas;
    status.availableReplicas = readyCount;
    return status;
  }
  if (replicas - readyCount > 0) status.unavailableReplicas = replicas - readyCount;
  const available = readyCount >= replicas;
  status.conditions = [
    {
      type: 'Available',
      status: available ? 'True' : 'False',
      reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
      message: available
        ? 'Deployment has minimum availability.'
        : 'Deployment does not have minimum availability.',
    },
  ];
  return status;
}

export function createWorkloadControllers(
  verbs: ApiVerbs,
  options: { delayMs: number; onError: (err: unknown) => void; placement?: PodPlacement },
): WorkloadControllers {
  let defaultReady = true;
  const overrides: { target: ReadinessTarget; ready: boolean }[] = [];
  const timers = new Map<string, NodeJS.Timeout>();
  let stopped = false;

  const readyFor = (kind: string, obj: KubeObject): boolean => {
    let ready = defaultReady;
    for (const { target, ready: r } of overrides) {
      if (target.kind && target.kind !== kind) continue;
      if (target.namespace && target.namespace !== obj.metadata.namespace) continue;
      if (target.name && target.name !== obj.metadata.name) continue;
      ready = r;
    }
    return ready;
  };

  const reconcile = (type: ResourceType, namespace: string, name: string) => {
    const obj = verbs.find(type, namespace, name);
    if (!obj || obj.metadata.deletionTimestamp) return;
    const ready = readyFor(type.kind, obj);
    const pods =
      options.placement && type.kind === 'StatefulSet'
        ? options.placement.syncStatefulSet(obj, ready)
        : undefined;
    const status = desiredStatus(type.kind, obj, ready, pods);
    if (deepEqual(status, obj.status)) return;
    try {
      verbs.replace(type, namespace, name, { ...obj, status }, 'status');
    } catch (err) {
      if (!(err instanceof KubeStatusError && err.code === 'NotFound')) options.onError(err);
    }
  };

  const schedule = (key: string, namespace: string, name: string) => {
    if (stopped) return;
    const id = `${key}/${namespace}/${name}`;
    clearTimeout(timers.get(id));
    timers.set(
      id,
      setTimeout(() => {
        timers.delete(id);
        const type = verbs.registry.versionsOf(key)[0];
        if (type) reconcile(type, namespace, name);
      }, options.delayMs),
    );
  };

  const scheduleAll = () => {
    for (const key of Object.keys(WORKLOAD_KEYS)) {
      for (const obj of verbs.store.list(key)) {
        schedule(key, obj.metadata.namespace ?? '', obj.metadata.name ?? '');
      }
    }
  };

  return {
    setReady(ready, target) {
      if (target) overrides.push({ target, ready });
      else {
        defaultReady = ready;
        overrides.length = 0;
      }
      scheduleAll();
    },
    onChange(change) {
      // A node that comes, goes or changes may let pending pods be placed.
      if (options.placement && change.key === 'nodes') scheduleAll();
      if (!WORKLOAD_KEYS[change.key] || change.type === 'DELETED') return;
      const { namespace, name } = change.object.metadata;
      schedule(change.key, namespace ?? '', name ?? '');
    },
    stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
