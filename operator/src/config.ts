/**
 * The operator's configuration, read once from the environment. docs/operator.md lists
 * every variable with its default; a bad value stops the process naming the variable.
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Env, EnvReader, readWireVersion, type WireVersion } from '@hikyaku/core';
import { type PortRange, parsePortRange } from './desired/host-ports.ts';

export interface SenderResources {
  requests: Record<string, string>;
  limits: Record<string, string>;
}

export interface SenderSettings {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  resources: SenderResources;
  /**
   * How the sender pods reach NATS and Redis, as environment variables (NATS_URL,
   * REDIS_URL, and NATS_TOKEN or NATS_USER/NATS_PASSWORD when the operator has them). They
   * may carry passwords, so they reach the pods through a Secret, never the pod spec.
   */
  connection: Readonly<Record<string, string>>;
  logLevel: string;
  streamReplicas: number;
  /** Port of the sender's /metrics, /healthz and /readyz. */
  httpPort: number;
  /**
   * Egress mode hostNetwork: the ops port is a port of the node, one per sender pod on it,
   * taken from this range.
   */
  hostPorts: PortRange;
  /** Service account of the sender pods; empty: the namespace default, with no token mounted. */
  serviceAccountName: string;
  terminationGracePeriodSeconds: number;
  /** HIKYAKU_WIRE_VERSION for the sender pods, when set; absent: the relay's (relay-wire-version.ts). */
  wireVersion?: WireVersion;
  /** false: the sender pods do not pipeline (HIKYAKU_SMTP_PIPELINING=off); absent: they do. */
  smtpPipelining?: false;
}

export interface LeaderElectionSettings {
  enabled: boolean;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface OperatorConfig {
  /** Kubeconfig file; '' = in-cluster (the pod's service account). */
  kubeconfig: string;
  natsUrl: string;
  redisUrl: string;
  httpHost: string;
  httpPort: number;
  logLevel: string;
  shutdownGraceMs: number;
  streamReplicas: number;
  /** Namespace whose RelayPools (and Secrets, StatefulSets) are watched; '' = all. */
  watchNamespace: string;
  sender: SenderSettings;
  leaderElection: LeaderElectionSettings;
  /** Reconciles running at once (each pool is still reconciled by one at a time). */
  workers: number;
  /** Retry back-off after a failed reconcile: first wait and ceiling. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How often the per-IP status rows (warm-up day, cap, sent today) are refreshed. */
  statusIntervalMs: number;
  /** Full re-list of every watched resource, against events lost on a half-open stream. */
  resyncIntervalMs: number;
  /** Server-side timeout asked of each watch; a stream open past it (plus a margin) is cut. */
  watchTimeoutSeconds: number;
  /** A removed IP stays draining at least this long, and until its queued jobs are gone. */
  drainGraceMs: number;
  /** How often a draining IP's queue is checked. */
  drainPollMs: number;
  /** Senders not ready this long after a change turn Degraded. */
  sendersReadyTimeoutMs: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
/** Kubernetes quantities: 100m, 0.5, 256Mi, 1G. */
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

function quantity(r: EnvReader, name: string, fallback: string): string {
  const value = r.string(name, fallback);
  if (value !== '' && !QUANTITY.test(value)) {
    r.problem(`${name} must be a Kubernetes quantity such as 100m or 256Mi, got "${value}"`);
  }
  return value;
}

function resources(r: EnvReader): SenderResources {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  const put = (into: Record<string, string>, key: string, value: string) => {
    if (value !== '') into[key] = value;
  };
  put(requests, 'cpu', quantity(r, 'HIKYAKU_SENDER_CPU_REQUEST', '100m'));
  put(requests, 'memory', quantity(r, 'HIKYAKU_SENDER_MEMORY_REQUEST', '128Mi'));
  put(limits, 'cpu', quantity(r, 'HIKYAKU_SENDER_CPU_LIMIT', ''));
  put(limits, 'memory', quantity(r, 'HIKYAKU_SENDER_MEMORY_LIMIT', '512Mi'));
  return { requests, limits };
}

function hostPorts(r: EnvReader): PortRange {
  const text = r.string('HIKYAKU_SENDER_HOST_PORTS', '9200-9299');
  const range = parsePortRange(text);
  if (!range) {
    r.problem(`HIKYAKU_SENDER_HOST_PORTS must be a port range such as 9200-9299, got "${text}"`);
    return { min: 9200, max: 9299 };
  }
  return range;
}

function connection(r: EnvReader, natsUrl: string, redisUrl: string): Record<string, string> {
  const out: Record<string, string> = {
    NATS_URL: r.string('HIKYAKU_SENDER_NATS_URL', natsUrl),
    REDIS_URL: r.string('HIKYAKU_SENDER_REDIS_URL', redisUrl),
  };
  for (const name of ['NATS_TOKEN', 'NATS_USER', 'NATS_PASSWORD']) {
    const value = r.string(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The identity written into the Lease: the pod name, made unique per process. */
function defaultIdentity(r: EnvReader): string {
  return `${r.string('HIKYAKU_POD_NAME', hostname())}_${randomUUID().slice(0, 8)}`;
}

export function readOperatorConfig(env: Env): Readonly<OperatorConfig> {
  const r = new EnvReader(env);
  const natsUrl = r.string('NATS_URL', 'nats://127.0.0.1:4222');
  const redisUrl = r.string('REDIS_URL', 'redis://127.0.0.1:6379');
  const logLevel = r.oneOf('HIKYAKU_LOG_LEVEL', LOG_LEVELS, 'info');
  const streamReplicas = r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 });
  const leaseDurationMs = r.int('HIKYAKU_LEASE_DURATION_MS', 15_000, { min: 1000 });
  const renewDeadlineMs = r.int('HIKYAKU_LEASE_RENEW_DEADLINE_MS', 10_000, { min: 100 });
  const retryPeriodMs = r.int('HIKYAKU_LEASE_RETRY_PERIOD_MS', 2000, { min: 50 });
  if (renewDeadlineMs >= leaseDurationMs) {
    r.problem('HIKYAKU_LEASE_RENEW_DEADLINE_MS must be shorter than HIKYAKU_LEASE_DURATION_MS');
  }
  if (retryPeriodMs >= renewDeadlineMs) {
    r.problem('HIKYAKU_LEASE_RETRY_PERIOD_MS must be shorter than HIKYAKU_LEASE_RENEW_DEADLINE_MS');
  }
  const leaderElection = r.bool('HIKYAKU_LEADER_ELECTION', true);
  const leaseNamespace = r.string('HIKYAKU_LEASE_NAMESPACE', r.string('HIKYAKU_NAMESPACE', ''));
  if (leaderElection && leaseNamespace === '') {
    r.problem(
      'HIKYAKU_LEASE_NAMESPACE (or HIKYAKU_NAMESPACE) is required when HIKYAKU_LEADER_ELECTION is on',
    );
  }
  const retryBaseMs = r.int('HIKYAKU_RECONCILE_RETRY_BASE_MS', 500, { min: 1 });
  const retryMaxMs = r.int('HIKYAKU_RECONCILE_RETRY_MAX_MS', 300_000, { min: 1 });
  if (retryMaxMs < retryBaseMs) {
    r.problem('HIKYAKU_RECONCILE_RETRY_MAX_MS must not be shorter than the base');
  }
  return r.done({
    kubeconfig: r.string('KUBECONFIG', ''),
    natsUrl,
    redisUrl,
    httpHost: r.string('HIKYAKU_HTTP_HOST', '0.0.0.0'),
    httpPort: r.int('HIKYAKU_HTTP_PORT', 9104, { min: 0, max: 65535 }),
    logLevel,
    shutdownGraceMs: r.int('HIKYAKU_SHUTDOWN_GRACE_MS', 25_000, { min: 0 }),
    streamReplicas,
    watchNamespace: r.string('HIKYAKU_WATCH_NAMESPACE', ''),
    sender: {
      image: r.required('HIKYAKU_SENDER_IMAGE'),
      imagePullPolicy: r.oneOf('HIKYAKU_SENDER_IMAGE_PULL_POLICY', PULL_POLICIES, 'IfNotPresent'),
      resources: resources(r),
      connection: connection(r, natsUrl, redisUrl),
      logLevel: r.oneOf('HIKYAKU_SENDER_LOG_LEVEL', LOG_LEVELS, logLevel),
      streamReplicas,
      httpPort: r.int('HIKYAKU_SENDER_HTTP_PORT', 9103, { min: 1, max: 65535 }),
      hostPorts: hostPorts(r),
      serviceAccountName: r.string('HIKYAKU_SENDER_SERVICE_ACCOUNT', ''),
      terminationGracePeriodSeconds: r.int('HIKYAKU_SENDER_GRACE_SECONDS', 30, { min: 1 }),
      ...(r.string('HIKYAKU_WIRE_VERSION') ? { wireVersion: readWireVersion(r) } : {}),
      ...(r.oneOf('HIKYAKU_SENDER_SMTP_PIPELINING', ['on', 'off'], 'on') === 'off'
        ? { smtpPipelining: false as const }
        : {}),
    },
    leaderElection: {
      enabled: leaderElection,
      namespace: leaseNamespace,
      name: r.string('HIKYAKU_LEASE_NAME', 'hikyaku-operator'),
      identity: r.string('HIKYAKU_LEADER_IDENTITY') ?? defaultIdentity(r),
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    workers: r.int('HIKYAKU_RECONCILE_WORKERS', 2, { min: 1, max: 64 }),
    retryBaseMs,
    retryMaxMs,
    statusIntervalMs: r.int('HIKYAKU_STATUS_INTERVAL_MS', 30_000, { min: 100 }),
    resyncIntervalMs: r.int('HIKYAKU_RESYNC_INTERVAL_MS', 600_000, { min: 1000 }),
    watchTimeoutSeconds: r.int('HIKYAKU_WATCH_TIMEOUT_SECONDS', 300, { min: 1, max: 3600 }),
    drainGraceMs: r.int('HIKYAKU_DRAIN_GRACE_MS', 30_000, { min: 0 }),
    drainPollMs: r.int('HIKYAKU_DRAIN_POLL_MS', 5000, { min: 10 }),
    sendersReadyTimeoutMs: r.int('HIKYAKU_SENDERS_READY_TIMEOUT_MS', 600_000, { min: 1000 }),
  });
}
