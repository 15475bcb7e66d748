/**
 * Pod Security admission, as the API server's built-in admission plugin enforces it: a
 * namespace labelled `pod-security.kubernetes.io/enforce: baseline` (or `restricted`)
 * refuses pods that break the level with 403 Forbidden, naming every violation. The
 * checks are the ones a sender pod can hit: the baseline level's host namespaces
 * (hostNetwork, hostPID, hostIPC), host ports and privileged containers; the restricted
 * level adds allowPrivilegeEscalation, runAsNonRoot, dropped capabilities and the seccomp
 * profile. Levels are applied to pods only, not to the workloads that create them (the
 * real plugin only warns there).
 */
import { KubeStatusError } from './errors.ts';
import { isRecord, type KubeObject } from './object.ts';

export const ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';
const LEVELS = ['privileged', 'baseline', 'restricted'] as const;
type Level = (typeof LEVELS)[number];

type Container = {
  name?: string;
  ports?: { hostPort?: number }[];
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[] };
    seccompProfile?: { type?: string };
  };
};

type PodSpec = {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  containers?: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
};

function baseline(spec: PodSpec): string[] {
  const out: string[] = [];
  const hostNs = (['hostNetwork', 'hostPID', 'hostIPC'] as const)
    .filter((k) => spec[k] === true)
    .map((k) => `${k}=true`);
  if (hostNs.length > 0) out.push(`host namespaces (${hostNs.join(', ')})`);
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const ports = containers.flatMap((c) =>
    (c.ports ?? [])
      .filter((p) => (p.hostPort ?? 0) !== 0)
      .map((p) => `container "${c.name}" uses hostPort ${p.hostPort}`),
  );
  if (ports.length > 0) out.push(`hostPort (${ports.join(', ')})`);
  const privileged = containers.filter((c) => c.securityContext?.privileged === true);
  if (privileged.length > 0) {
    out.push(
      `privileged (${privileged.map((c) => `container "${c.name}"`).join(', ')} must not set securityContext.privileged=true)`,
    );
  }
  return out;
}

function restricted(spec: PodSpec): string[] {
  const out: string[] = [];
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const lacking = (what: string, ok: (c: Container) => boolean) => {
    const bad = containers.filter((c) => !ok(c)).map((c) => `"${c.name}"`);
    if (bad.length > 0) out.push(`${what} (containers ${bad.join(', ')})`);
  };
  lacking(
    'allowPrivilegeEscalation != false',
    (c) => c.securityContext?.allowPrivilegeEscalation === false,
  );
  lacking('unrestricted capabilities', (c) =>
    (c.securityContext?.capabilities?.drop ?? []).includes('ALL'),
  );
  lacking(
    'runAsNonRoot != true',
    (c) => c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot ?? false,
  );
  lacking('seccompProfile', (c) => {
    const type =
      c.securityContext?.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type;
    return type === 'RuntimeDefault' || type === 'Localhost';
  });
  return out;
}

/**
 * The API's defaulting of a pod in the node's network: each container port is a host port
 * of the same number (what the scheduler and Pod Security then see).
 */
export function defaultHostPorts(pod: KubeObject): void {
  const spec = (isRecord(pod.spec) ? pod.spec : {}) as PodSpec & {
    containers?: { ports?: { containerPort?: number; hostPort?: number }[] }[];
  };
  if (spec.hostNetwork !== true) return;
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const port of (c.ports ?? []) as { containerPort?: number; hostPort?: number }[]) {
      port.hostPort ??= port.containerPort;
    }
  }
}

/** Refuses `pod` as admission does when the namespace's enforced level forbids it. */
export function admitPodSecurity(pod: KubeObject, namespace: KubeObject | undefined): void {
  const label = namespace?.metadata.labels?.[ENFORCE_LABEL];
  const level = (LEVELS as readonly string[]).includes(label ?? '')
    ? (label as Level)
    : 'privileged';
  if (level === 'privileged') return;
  const spec = (isRecord(pod.spec) ? pod.spec : {}) as PodSpec;
  const violations = [...baseline(spec), ...(level === 'restricted' ? restricted(spec) : [])];
  if (violations.length === 0) return;
  throw new KubeStatusError(
    403,
    'Forbidden',
    `pods "${pod.metadata.name}" is forbidden: violates PodSecurity "${level}:latest": ${violations.join(', ')}`,
  );
}
