/**
 * Pods for StatefulSets, placed on Nodes as kube-scheduler would: with pod simulation on,
 * the StatefulSet controller keeps pods `<name>-0 … <name>-(replicas-1)` from the pod
 * template (through admission, so Pod Security applies and a refusal becomes a
 * FailedCreate Event on the StatefulSet, as the real controller records it), replaces a pod
 * whose template changed, and removes pods above the replica count or bound to a node that
 * is gone (what the pod garbage collector does). A pending pod is bound to the first node,
 * by name, that passes the scheduler's filters:
 *
 * - the node is schedulable (not cordoned) and Ready;
 * - its NoSchedule/NoExecute taints are tolerated;
 * - `nodeSelector` and required node affinity (matchExpressions on labels, matchFields on
 *   metadata.name) match;
 * - no pod already on the node holds one of the pod's host ports (a hostNetwork pod's
 *   container ports are host ports: admission defaults hostPort to containerPort, see
 *   pod-security.ts).
 *
 * A pod no node takes stays Pending with PodScheduled=False, reason Unschedulable, and the
 * scheduler's "0/N nodes are available: …" message. Scoring is not simulated.
 */
import { createHash } from 'node:crypto';
import { KubeStatusError } from './errors.ts';
import { isRecord, type KubeObject, timestamp } from './object.ts';
import type { ApiVerbs } from './verbs.ts';

type Requirement = { key: string; operator: string; values?: string[] };
type Term = { matchExpressions?: Requirement[]; matchFields?: Requirement[] };
type Toleration = { key?: string; operator?: string; value?: string; effect?: string };
type Taint = { key: string; value?: string; effect: string };
type Container = {
  name?: string;
  ports?: { containerPort?: number; hostPort?: number; protocol?: string }[];
};
type PodSpec = {
  nodeName?: string;
  hostNetwork?: boolean;
  nodeSelector?: Record<string, string>;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: Term[] };
    };
  };
  tolerations?: Toleration[];
  containers?: Container[];
};

export interface PodPlacement {
  /** Brings the StatefulSet's pods in line and places them; returns how many are ready. */
  syncStatefulSet(sts: KubeObject, ready: boolean): { pods: number; ready: number };
}

function specOf(obj: KubeObject): PodSpec {
  return (isRecord(obj.spec) ? obj.spec : {}) as PodSpec;
}

function requirementHolds(r: Requirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

function matchesNode(spec: PodSpec, node: KubeObject): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const terms =
    spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return true;
  // Terms are ORed; the requirements of one term are ANDed.
  return terms.some(
    (t) =>
      (t.matchExpressions ?? []).every((r) => requirementHolds(r, labels[r.key])) &&
      (t.matchFields ?? []).every(
        (r) => r.key === 'metadata.name' && requirementHolds(r, node.metadata.name),
      ),
  );
}

function tolerates(tolerations: Toleration[], taint: Taint): boolean {
  return tolerations.some(
    (t) =>
      (t.effect === undefined || t.effect === '' || t.effect === taint.effect) &&
      (t.operator === 'Exists'
        ? t.key === undefined || t.key === '' || t.key === taint.key
        : t.key === taint.key && (t.value ?? '') === (taint.value ?? '')),
  );
}

function nodeReady(node: KubeObject): boolean {
  const conditions = isRecord(node.status)
    ? (node.status.conditions as { type: string; status: string }[])
    : [];
  const ready = (conditions ?? []).find((c) => c.type === 'Ready');
  return !ready || ready.status === 'True';
}

function hostPorts(spec: PodSpec): string[] {
  return (spec.containers ?? []).flatMap((c) =>
    (c.ports ?? [])
      .filter((p) => (p.hostPort ?? 0) !== 0)
      .map((p) => `${p.protocol ?? 'TCP'}/${p.hostPort}`),
  );
}

function nodeAddress(node: KubeObject): string | undefined {
  const addresses = isRecord(node.status)
    ? (node.status.addresses as { type: string; address: string }[] | undefined)
    : undefined;
  return addresses?.find((a) => a.type === 'InternalIP')?.address;
}

/** Why a node cannot take the pod (the scheduler's wording), or undefined when it can. */
function unfit(spec: PodSpec, node: KubeObject, podsOnNode: KubeObject[]): string | undefined {
  const nodeSpec = (isRecord(node.spec) ? node.spec : {}) as {
    unschedulable?: boolean;
    taints?: Taint[];
  };
  if (nodeSpec.unschedulable) return 'node(s) were unschedulable';
  if (!nodeReady(node)) return 'node(s) were not ready';
  const taint = (nodeSpec.taints ?? []).find(
    (t) =>
      (t.effect === 'NoSchedule' || t.effect === 'NoExecute') &&
      !tolerates(spec.tolerations ?? [], t),
  );
  if (taint) return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
  if (!matchesNode(spec, node)) return "node(s) didn't match Pod's node affinity/selector";
  const wanted = hostPorts(spec);
  const used = new Set(podsOnNode.flatMap((p) => hostPorts(specOf(p))));
  if (wanted.some((p) => used.has(p)))
    return "node(s) didn't have free ports for the requested pod ports";
  return undefined;
}

function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
}

export function createPodPlacement(verbs: ApiVerbs): PodPlacement {
  const type = (plural: string) => verbs.registry.lookup('', 'v1', plural)!;
  const podType = type('pods');
  const eventType = type('events');
  const reported = new Map<string, string>();

  const liveNodes = () =>
    verbs.store
      .list('nodes')
      .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const podsOn = (node: string) =>
    verbs.store
      .list('pods')
      .filter((p) => specOf(p).nodeName === node && !p.metadata.deletionTimestamp);

  function failedCreate(sts: KubeObject, message: string): void {
    const key = `${sts.metadata.namespace}/${sts.metadata.name}`;
    if (reported.get(key) === message) return;
    reported.set(key, message);
    const now = timestamp();
    verbs.create(eventType, sts.metadata.namespace, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${sts.metadata.name}.`, namespace: sts.metadata.namespace },
      involvedObject: {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        name: sts.metadata.name,
        namespace: sts.metadata.namespace,
        uid: sts.metadata.uid,
      },
      reason: 'FailedCreate',
      message: `create Pod ${message.match(/pods "([^"]+)"/)?.[1] ?? ''} in StatefulSet ${sts.metadata.name} failed error: ${message}`,
      type: 'Warning',
      source: { component: 'statefulset-controller' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }

  function desiredPod(sts: KubeObject, ordinal: number, hash: string): KubeObject {
    const template = (
      isRecord(sts.spec) && isRecord(sts.spec.template) ? sts.spec.template : {}
    ) as {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: PodSpec;
    };
    const spec = structuredClone(template.spec ?? {});
    const name = `${sts.metadata.name}-${ordinal}`;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: sts.metadata.namespace,
        labels: {
          ...template.metadata?.labels,
          'controller-revision-hash': `${sts.metadata.name}-${hash}`,
          'statefulset.kubernetes.io/pod-name': name,
        },
        ...(template.metadata?.annotations
          ? { annotations: { ...template.metadata.annotations } }
          : {}),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            name: sts.metadata.name ?? '',
            uid: sts.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: spec as Record<string, unknown>,
    };
  }

  function schedule(pod: KubeObject, ready: boolean): KubeObject {
    const spec = specOf(pod);
    const nodes = liveNodes();
    let nodeName = spec.nodeName;
    let message = '';
    if (!nodeName) {
      const reasons = new Map<string, number>();
      for (const node of nodes) {
        const why = unfit(spec, node, podsOn(node.metadata.name ?? ''));
        if (!why) {
          nodeName = node.metadata.name;
          break;
        }
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
      }
      if (!nodeName) {
        const parts = [...reasons].map(([why, n]) => `${n} ${why}`).sort();
        message = `0/${nodes.length} nodes are available: ${parts.join(', ')}.`;
      } else {
        pod = verbs.replace(
          podType,
          pod.metadata.namespace,
          pod.metadata.name ?? '',
          {
            ...pod,
            spec: { ...specOf(pod), nodeName },
          },
          undefined,
        ).object;
      }
    }
    const node = nodes.find((n) => n.metadata.name === nodeName);
    const status: Record<string, unknown> = nodeName
      ? {
          phase: 'Running',
          hostIP: nodeAddress(node ?? { metadata: {} }),
          podIP: spec.hostNetwork
            ? nodeAddress(node ?? { metadata: {} })
            : `10.244.${liveNodes().indexOf(node!)}.${pod.metadata.name?.length ?? 0}`,
          conditions: [
            { type: 'PodScheduled', status: 'True' },
            { type: 'Ready', status: ready ? 'True' : 'False' },
          ],
        }
      : {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }],
        };
    if (JSON.stringify(status) === JSON.stringify(pod.status)) return pod;
    return verbs.replace(
      podType,
      pod.metadata.namespace,
      pod.metadata.name ?? '',
      { ...pod, status },
      'status',
    ).object;
  }

  return {
    syncStatefulSet(sts, ready) {
      const ns = sts.metadata.namespace;
      const replicas =
        isRecord(sts.spec) && typeof sts.spec.replicas === 'number' ? sts.spec.replicas : 1;
      const hash = templateHash(isRecord(sts.spec) ? sts.spec.template : undefined);
      const nodeNames = new Set(liveNodes().map((n) => n.metadata.name));
      const owned = verbs.store
        .list('pods')
        .filter(
          (p) =>
            p.metadata.namespace === ns &&
            p.metadata.ownerReferences?.some((r) => r.uid === sts.metadata.uid),
        );
      for (const pod of owned) {
        const ordinal = Number(pod.metadata.name?.slice((sts.metadata.name ?? '').length + 1));
        const stale =
          pod.metadata.labels?.['controller-revision-hash'] !== `${sts.metadata.name}-${hash}`;
        const orphaned = specOf(pod).nodeName !== undefined && !nodeNames.has(specOf(pod).nodeName);
        if (ordinal >= replicas || stale || orphaned) {
          verbs.remove(podType, ns, pod.metadata.name ?? '');
        }
      }
      let readyPods = 0;
      let pods = 0;
      for (let ordinal = 0; ordinal < replicas; ordinal += 1) {
        const name = `${sts.metadata.name}-${ordinal}`;
        let pod = verbs.find(podType, ns, name);
        if (!pod) {
          try {
            pod = verbs.create(podType, ns, desiredPod(sts, ordinal, hash));
          } catch (err) {
            if (!(err instanceof KubeStatusError)) throw err;
            failedCreate(sts, err.message);
            continue;
          }
        }
        pods += 1;
        pod = schedule(pod, ready);
        const conditions = (isRecord(pod.status) ? pod.status.conditions : []) as {
          type: string;
          status: string;
        }[];
        if (conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) readyPods += 1;
      }
      return { pods, ready: readyPods };
    },
  };
}
