/**
 * The sender StatefulSet a pool should have: a pure function of the pool, the replica
 * count its IP assignment needs, the DKIM Secrets to mount and the operator's sender
 * settings. Pods are named <pool>-sender-<n>, the names the published IP assignment uses.
 * The pool's `senders.template` is merged in, then what the relay relies on is set again
 * (selector labels, the container's pool environment), so an override cannot break them.
 */
import { createHash } from 'node:crypto';
import { DKIM_MOUNT_ROOT, poolKey } from '@hikyaku/core';
import { WEBHOOK_SECRET_ROOT } from '@hikyaku/core/policy';
import type {
  V1Container,
  V1EnvVar,
  V1PodTemplateSpec,
  V1StatefulSet,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { SenderSettings } from '../config.ts';
import type { RelayPoolObject } from '../kube/objects.ts';
import { connectionSecretName, connectionVersion } from './connection-secret.ts';
import type { SlotShape } from './egress.ts';
import { LABELS } from './labels.ts';
import { poolOwnerReference, senderLabels } from './ownership.ts';
import { mergeTemplate } from './template-merge.ts';

export const SENDER_CONTAINER = 'sender';
export const ANNOTATIONS = {
  /** Hash of the desired StatefulSet: a difference means it must be updated. */
  specHash: 'hikyaku.io/spec-hash',
  /** Changes when a mounted DKIM Secret changes, so the pods restart with the new key. */
  dkimVersion: 'hikyaku.io/dkim-version',
  /** Changes when the NATS or Redis connection changes, so the pods reconnect. */
  connectionVersion: 'hikyaku.io/connection-version',
} as const;

/**
 * <pool>-sender-<ordinal> must stay a valid pod name and the StatefulSet's revision label
 * (<statefulset>-<10-character hash>) at most 63 characters: so at most 45 for the pool.
 */
export const MAX_POOL_NAME_LENGTH = 45;

export function senderStatefulSetName(poolName: string): string {
  return `${poolName}-sender`;
}

export interface SenderStatefulSetInput {
  pool: RelayPoolObject;
  replicas: number;
  sender: SenderSettings;
  /** Secret names holding DKIM keys; each is mounted at DKIM_MOUNT_ROOT/<name>. */
  dkimSecrets: readonly string[];
  /** Identifies the DKIM Secrets' contents; '' when there are none. */
  dkimVersion: string;
  /** Secret names holding webhook signing secrets; each is mounted at WEBHOOK_SECRET_ROOT/<name>. */
  webhookSecrets?: readonly string[];
  /** In an egress mode: the slot this StatefulSet runs (slots.ts) and what its mode sets. */
  slot?: SlotShape;
}

function httpPortOf(input: SenderStatefulSetInput): number {
  return input.slot?.httpPort ?? input.sender.httpPort;
}

function senderEnv(input: SenderStatefulSetInput): V1EnvVar[] {
  const { sender, pool } = input;
  // The sender hands back unfinished jobs within its grace period; leave it 5 s of the pod's.
  const graceMs = Math.max(1, sender.terminationGracePeriodSeconds - 5) * 1000;
  return [
    { name: 'HIKYAKU_POOL', value: poolKey(pool.metadata.namespace, pool.metadata.name) },
    { name: 'HIKYAKU_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'HIKYAKU_HTTP_PORT', value: String(httpPortOf(input)) },
    { name: 'HIKYAKU_LOG_LEVEL', value: sender.logLevel },
    { name: 'HIKYAKU_STREAM_REPLICAS', value: String(sender.streamReplicas) },
    { name: 'HIKYAKU_SHUTDOWN_GRACE_MS', value: String(graceMs) },
    ...(sender.wireVersion
      ? [{ name: 'HIKYAKU_WIRE_VERSION', value: String(sender.wireVersion) }]
      : []),
    ...(sender.smtpPipelining === false ? [{ name: 'HIKYAKU_SMTP_PIPELINING', value: 'off' }] : []),
  ];
}

function secretVolumes(
  secrets: readonly string[],
  prefix: string,
  root: string,
): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  secrets.forEach((secretName, i) => {
    const name = `${prefix}-${i}`;
    volumes.push({ name, secret: { secretName, defaultMode: 0o440 } });
    mounts.push({ name, mountPath: `${root}/${secretName}`, readOnly: true });
  });
  return { volumes, mounts };
}

function baseTemplate(input: SenderStatefulSetInput): V1PodTemplateSpec {
  const { sender, pool } = input;
  const dkim = secretVolumes(input.dkimSecrets, 'dkim', DKIM_MOUNT_ROOT);
  const hooks = secretVolumes(input.webhookSecrets ?? [], 'webhook', WEBHOOK_SECRET_ROOT);
  // The root file system is read-only; Node and TLS libraries still want a scratch /tmp.
  const volumes: V1Volume[] = [{ name: 'tmp', emptyDir: {} }, ...dkim.volumes, ...hooks.volumes];
  const mounts: V1VolumeMount[] = [
    { name: 'tmp', mountPath: '/tmp' },
    ...dkim.mounts,
    ...hooks.mounts,
  ];
  const container: V1Container = {
    name: SENDER_CONTAINER,
    image: sender.image,
    imagePullPolicy: sender.imagePullPolicy,
    args: ['sender'],
    envFrom: [{ secretRef: { name: connectionSecretName(pool.metadata.name) } }],
    env: senderEnv(input),
    ports: [{ name: 'metrics', containerPort: httpPortOf(input), protocol: 'TCP' }],
    readinessProbe: {
      httpGet: { path: '/readyz', port: 'metrics' },
      periodSeconds: 5,
      failureThreshold: 2,
    },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'metrics' },
      periodSeconds: 10,
      failureThreshold: 6,
    },
    resources: {
      requests: { ...sender.resources.requests },
      limits: { ...sender.resources.limits },
    },
    // Hardened like the chart's own pods; a pool's template may relax it (e.g. for
    // hostNetwork setups that need more).
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: mounts,
  };
  return {
    metadata: {
      labels: {
        ...senderLabels(pool.metadata.name),
        [LABELS.name]: 'hikyaku',
        [LABELS.instance]: pool.metadata.name,
      },
      annotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(httpPortOf(input)),
        [ANNOTATIONS.connectionVersion]: connectionVersion(sender.connection),
        ...(input.dkimVersion ? { [ANNOTATIONS.dkimVersion]: input.dkimVersion } : {}),
      },
    },
    spec: {
      ...(sender.serviceAccountName ? { serviceAccountName: sender.serviceAccountName } : {}),
      // Senders never call the Kubernetes API.
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: sender.terminationGracePeriodSeconds,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        fsGroup: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [container],
      volumes,
    },
  };
}

/** Puts back what an override must not change. */
function enforce(template: V1PodTemplateSpec, input: SenderStatefulSetInput): V1PodTemplateSpec {
  const labels = { ...template.metadata?.labels, ...senderLabels(input.pool.metadata.name) };
  const env = senderEnv(input);
  // An explicit variable would win over the connection Secret's: those are reserved too.
  const reserved = new Set([...env.map((e) => e.name), ...Object.keys(input.sender.connection)]);
  const envFrom = [{ secretRef: { name: connectionSecretName(input.pool.metadata.name) } }];
  const containers = (template.spec?.containers ?? []).map((c) =>
    c.name === SENDER_CONTAINER
      ? { ...c, envFrom, env: [...(c.env ?? []).filter((e) => !reserved.has(e.name)), ...env] }
      : c,
  );
  return {
    ...template,
    metadata: { ...template.metadata, labels },
    spec: { ...template.spec, containers },
  };
}

/**
 * What the egress mode sets, over the template: the slot's labels and annotations, the
 * pod's network, and in the node's network the node affinity and the ops port as a host
 * port (declared, so that the scheduler keeps pods that want the same port apart).
 */
function applySlot(template: V1PodTemplateSpec, shape: SlotShape): V1PodTemplateSpec {
  const spec = { ...template.spec, containers: template.spec?.containers ?? [] };
  spec.hostNetwork = shape.hostNetwork;
  if (shape.hostNetwork) {
    spec.dnsPolicy = 'ClusterFirstWithHostNet';
    spec.containers = spec.containers.map((c) =>
      c.name === SENDER_CONTAINER
        ? { ...c, ports: (c.ports ?? []).map((p) => ({ ...p, hostPort: p.containerPort })) }
        : c,
    );
  } else if (spec.dnsPolicy === 'ClusterFirstWithHostNet') {
    delete spec.dnsPolicy;
  }
  if (shape.affinity) spec.affinity = { ...spec.affinity, ...shape.affinity };
  return {
    metadata: {
      ...template.metadata,
      labels: { ...template.metadata?.labels, ...shape.podLabels, ...shape.selectorLabels },
      annotations: { ...template.metadata?.annotations, ...shape.podAnnotations },
    },
    spec,
  };
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

export function buildSenderStatefulSet(input: SenderStatefulSetInput): V1StatefulSet {
  const { pool } = input;
  const name = input.slot?.name ?? senderStatefulSetName(pool.metadata.name);
  const overrides = pool.spec.senders?.template;
  const merged = enforce(mergeTemplate(baseTemplate(input), overrides), input);
  const template = input.slot ? applySlot(merged, input.slot) : merged;
  const selector = { ...senderLabels(pool.metadata.name), ...input.slot?.selectorLabels };
  const labels = {
    ...senderLabels(pool.metadata.name),
    [LABELS.name]: 'hikyaku',
    [LABELS.instance]: pool.metadata.name,
  };
  const spec: V1StatefulSet['spec'] = {
    replicas: input.replicas,
    serviceName: name,
    // Sender pods are independent: start and stop them together, not one by one.
    podManagementPolicy: 'Parallel',
    selector: { matchLabels: selector },
    template,
    updateStrategy: { type: 'RollingUpdate' },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name,
      namespace: pool.metadata.namespace,
      labels,
      annotations: {
        ...input.slot?.statefulSetAnnotations,
        [ANNOTATIONS.specHash]: hashOf({ labels, spec }),
      },
      ownerReferences: [poolOwnerReference(pool)],
    },
    spec,
  };
}

/** Whether the live StatefulSet differs from the desired one in anything the operator sets. */
export function statefulSetNeedsUpdate(live: V1StatefulSet, desired: V1StatefulSet): boolean {
  const hash = (s: V1StatefulSet) => s.metadata?.annotations?.[ANNOTATIONS.specHash];
  const image = (s: V1StatefulSet) =>
    s.spec?.template.spec?.containers.find((c) => c.name === SENDER_CONTAINER)?.image;
  return (
    hash(live) !== hash(desired) ||
    live.spec?.replicas !== desired.spec?.replicas ||
    image(live) !== image(desired)
  );
}
