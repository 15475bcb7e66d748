/**
 * Compiling a RelayPool: a pure function from the declared spec (plus what the control
 * plane resolved: which pod owns which IP, submitter password hashes) to the policy the data
 * plane reads from NATS KV. The operator and local mode both use it, so a pool behaves the
 * same in both.
 */
import { poolKey } from '../contract/subjects.ts';
import { deriveReturnPathKey } from '../feedback/token.ts';
import { splitHostPort } from '../host-port.ts';
import { type ComplaintGuard, resolveComplaintGuard } from '../policy/complaint-guard.ts';
import { BadFeedbackError, BadWarmupScheduleError } from '../policy/errors.ts';
import { type ResolvedRatePolicy, resolveRatePolicies } from '../policy/rate-policy.ts';
import {
  type ReputationSettings,
  resolveReputationSettings,
} from '../policy/reputation-settings.ts';
import { resolveRetryPolicy } from '../policy/retry.ts';
import { checkWarmupSchedule, dayKeyFormatter } from '../policy/warmup.ts';
import { type CompiledWebhook, resolveWebhook } from '../policy/webhooks.ts';
import type {
  BounceSpec,
  EgressMode,
  FeedbackSpec,
  PoolWarmupSpec,
  RatePolicySpec,
  RelayPoolResource,
  RouteSpec,
} from './spec.ts';

export const POOL_DEFAULTS = {
  ipsPerPod: 1,
  timeZone: 'UTC',
  /** 25 MiB, as the CRD's default. */
  maxMessageSize: 25 * 1024 * 1024,
  maxRecipients: 1000,
  overflow: 'defer' as const,
  minDeliveredRatio: 0.9,
  /** 10 MiB: a DSN that returns a large message whole still fits. */
  maxReportSize: 10 * 1024 * 1024,
  reportsPerMinute: 60,
  complaintLocalPart: 'fbl',
} as const;

export interface CompiledIp {
  address: string;
  hostname: string;
  /** Pod that sends from this IP; absent while unassigned. */
  pod?: string;
  warmupStartDate?: string;
  /** Being removed: receives no new jobs, finishes what it holds. */
  draining?: boolean;
  /** Egress mode hostNetwork: the node that holds the address. */
  node?: string;
  /**
   * Its node is gone, cordoned or not ready: it receives no new jobs (what is queued for
   * it waits in JetStream) until the node is back.
   */
  nodeUnavailable?: boolean;
}

export interface CompiledRoute {
  domains: string[];
  host: string;
  port: number;
}

export interface CompiledSubmitter {
  username: string;
  /** Salted hash (scrypt, PHC-like string); never the password. */
  passwordHash?: string;
  allowedSenderDomains: string[];
  messagesPerMinute?: number;
}

export interface CompiledDkimKey {
  domain: string;
  selector: string;
  /** Path of the PEM file as mounted in the sender pod (or a local file). */
  keyFile: string;
}

/** What the pool does with the feedback that comes back by mail (docs/feedback.md). */
export interface CompiledFeedback {
  /** Lower case, no trailing dot. */
  bounceDomain: string;
  /** Lower case. */
  complaintAddress: string;
  /**
   * The HMAC key of this pool's return path tokens (base64), derived from the user's secret
   * (deriveReturnPathKey). Anyone who can read the pool bucket can also publish envelopes,
   * so it is kept with the rest of the policy.
   */
  signingKey: string;
  /** Lower case; ["*"]: every sender domain. */
  senderDomains: string[];
  maxReportSize: number;
  reportsPerMinute: number;
  complaints: ComplaintGuard;
}

export interface CompiledPool {
  v: 1;
  key: string;
  name: string;
  namespace: string;
  generation: number;
  /**
   * How sender pods send from their IPs (spec.egress.mode); absent: as the pod template
   * makes it. In mode gateway a sender does not bind its connections to the address.
   */
  egress?: EgressMode;
  ips: CompiledIp[];
  routes: CompiledRoute[];
  /** As declared; kept for readers of older compiled pools. */
  ratePolicies: RatePolicySpec[];
  /**
   * The rate policies validated and resolved once (every field filled, the catch-all
   * "default" last): what the scheduler and senders apply. Absent in pools compiled before
   * this field existed; readers then resolve ratePolicies themselves.
   */
  resolvedRatePolicies?: readonly ResolvedRatePolicy[];
  warmup: Required<Pick<PoolWarmupSpec, 'overflow' | 'minDeliveredRatio'>> & PoolWarmupSpec;
  retry: { scheduleMs: number[]; maxAgeMs: number };
  bounces: Required<BounceSpec>;
  submitters: CompiledSubmitter[];
  allowedNetworks: string[];
  dkim: CompiledDkimKey[];
  timeZone: string;
  maxMessageSize: number;
  maxRecipients: number;
  /**
   * The reputation guard's settings, resolved. Absent in pools compiled before the guard
   * existed; readers then apply resolveReputationSettings(undefined), the defaults.
   */
  reputation?: ReputationSettings;
  /** Absent: the pool keeps the client's envelope sender and takes no feedback by mail. */
  feedback?: CompiledFeedback;
  /** HTTPS endpoints its senders deliver the pool's events to; absent: none. */
  webhooks?: CompiledWebhook[];
}

export interface CompileInputs {
  /** IP address -> pod name. */
  assignment: Record<string, string>;
  /** Submitter username -> salted hash. */
  passwordHashes?: Record<string, string>;
  /** Addresses being drained out of the pool. */
  draining?: string[];
  /** Addresses whose node is gone, cordoned or not ready. */
  nodeUnavailable?: string[];
  /** Where DKIM secrets are mounted in sender pods. */
  dkimMountRoot?: string;
  /** The secret of feedback.signingKeySecretRef (or signingKeyFile), as read. */
  feedbackSecret?: string;
  /** Where webhook Secrets are mounted in sender pods (default WEBHOOK_SECRET_ROOT). */
  webhookSecretRoot?: string;
  /** Local mode: the pool file's directory, against which a relative secretFile is read. */
  fileDir?: string;
}

export const DKIM_MOUNT_ROOT = '/etc/hikyaku/dkim';

/** Which pod owns which IP: consecutive groups of ipsPerPod, pods named <pool>-sender-<n>. */
export function assignIps(
  poolName: string,
  addresses: string[],
  ipsPerPod: number,
): Record<string, string> {
  const assignment: Record<string, string> = {};
  addresses.forEach((address, index) => {
    assignment[address] = `${poolName}-sender-${Math.floor(index / ipsPerPod)}`;
  });
  return assignment;
}

export function senderReplicas(ipCount: number, ipsPerPod: number): number {
  return Math.ceil(ipCount / ipsPerPod);
}

function compileRoute(route: RouteSpec): CompiledRoute {
  const { host, port } = splitHostPort(route.host);
  return {
    domains: route.domains.map((d) => d.toLowerCase().replace(/\.$/, '')),
    host,
    port: route.port ?? port ?? 25,
  };
}

/**
 * Throws a PolicyError naming the field when the spec cannot be enforced: a rate policy
 * that does not resolve, a bad warm-up schedule or time zone, or IPs that warm up in a
 * pool without a schedule to warm them by.
 */
function checkShaping(spec: RelayPoolResource['spec']): readonly ResolvedRatePolicy[] {
  const resolved = resolveRatePolicies(spec.ratePolicies ?? []);
  const warming = spec.ips.filter((ip) => ip.warmup !== undefined).map((ip) => ip.address);
  const schedule = spec.warmup?.schedule ?? [];
  if (warming.length > 0 && schedule.length === 0) {
    throw new BadWarmupScheduleError(
      `ips ${warming.join(', ')} have a warm-up start date but warmup.schedule is empty`,
    );
  }
  if (schedule.length > 0) checkWarmupSchedule(schedule);
  const ratio = spec.warmup?.minDeliveredRatio;
  if (ratio !== undefined && !(ratio >= 0 && ratio <= 1)) {
    throw new BadWarmupScheduleError(`minDeliveredRatio must be in [0, 1], got ${ratio}`);
  }
  dayKeyFormatter(spec.timeZone ?? POOL_DEFAULTS.timeZone);
  return resolved;
}

function compileFeedback(
  spec: FeedbackSpec | undefined,
  pool: string,
  secret: string | undefined,
): CompiledFeedback | undefined {
  if (spec === undefined) return undefined;
  const key = secret?.replace(/\r?\n$/, '');
  if (!key) {
    throw new BadFeedbackError(
      'feedback needs the secret of signingKeySecretRef (or signingKeyFile), and it is empty or unreadable',
    );
  }
  const bounceDomain = spec.bounceDomain.toLowerCase().replace(/\.$/, '');
  return {
    bounceDomain,
    complaintAddress: (
      spec.complaintAddress ?? `${POOL_DEFAULTS.complaintLocalPart}@${bounceDomain}`
    ).toLowerCase(),
    signingKey: deriveReturnPathKey(key, pool).toString('base64'),
    senderDomains: (spec.senderDomains ?? ['*']).map((d) => d.toLowerCase()),
    maxReportSize: spec.maxReportSize ?? POOL_DEFAULTS.maxReportSize,
    reportsPerMinute: spec.reportsPerMinute ?? POOL_DEFAULTS.reportsPerMinute,
    complaints: resolveComplaintGuard(spec.complaints),
  };
}

export function compilePool(resource: RelayPoolResource, inputs: CompileInputs): CompiledPool {
  const { spec, metadata } = resource;
  const resolvedRatePolicies = checkShaping(spec);
  const retry = resolveRetryPolicy(spec.retry);
  const reputation = resolveReputationSettings(spec.reputation);
  const namespace = metadata.namespace ?? 'default';
  const draining = new Set(inputs.draining ?? []);
  const unavailable = new Set(inputs.nodeUnavailable ?? []);
  const mountRoot = inputs.dkimMountRoot ?? DKIM_MOUNT_ROOT;
  const key = poolKey(namespace, metadata.name);
  const feedback = compileFeedback(spec.feedback, key, inputs.feedbackSecret);
  const webhooks = (spec.webhooks ?? []).map((w, i) =>
    resolveWebhook(w, i, {
      ...(inputs.webhookSecretRoot ? { secretRoot: inputs.webhookSecretRoot } : {}),
      ...(inputs.fileDir ? { fileDir: inputs.fileDir } : {}),
    }),
  );
  return {
    v: 1,
    key,
    name: metadata.name,
    namespace,
    generation: metadata.generation ?? 1,
    ...(spec.egress ? { egress: spec.egress.mode } : {}),
    ips: spec.ips.map((ip) => {
      const pod = inputs.assignment[ip.address];
      return {
        address: ip.address,
        hostname: ip.hostname,
        ...(pod ? { pod } : {}),
        ...(ip.warmup ? { warmupStartDate: ip.warmup.startDate } : {}),
        ...(draining.has(ip.address) ? { draining: true } : {}),
        ...(ip.node ? { node: ip.node } : {}),
        ...(unavailable.has(ip.address) ? { nodeUnavailable: true } : {}),
      };
    }),
    routes: (spec.routes ?? []).map(compileRoute),
    ratePolicies: spec.ratePolicies ?? [],
    resolvedRatePolicies,
    warmup: {
      schedule: spec.warmup?.schedule ?? [],
      overflow: spec.warmup?.overflow ?? POOL_DEFAULTS.overflow,
      minDeliveredRatio: spec.warmup?.minDeliveredRatio ?? POOL_DEFAULTS.minDeliveredRatio,
    },
    retry: { scheduleMs: [...retry.schedule], maxAgeMs: retry.maxAge },
    bounces: {
      suppressHardBounces: spec.bounces?.suppressHardBounces ?? true,
      notifySender: spec.bounces?.notifySender ?? true,
    },
    submitters: (spec.submitters ?? []).map((s) => {
      const passwordHash = inputs.passwordHashes?.[s.username];
      return {
        username: s.username,
        ...(passwordHash ? { passwordHash } : {}),
        allowedSenderDomains: (s.allowedSenderDomains ?? []).map((d) => d.toLowerCase()),
        ...(s.messagesPerMinute !== undefined ? { messagesPerMinute: s.messagesPerMinute } : {}),
      };
    }),
    allowedNetworks: spec.allowedNetworks ?? [],
    dkim: (spec.dkim ?? []).map((d) => ({
      domain: d.domain.toLowerCase(),
      selector: d.selector,
      keyFile:
        d.privateKeyFile ??
        `${mountRoot}/${d.privateKeySecretRef?.name ?? d.domain}/${d.privateKeySecretRef?.key ?? 'private.pem'}`,
    })),
    timeZone: spec.timeZone ?? POOL_DEFAULTS.timeZone,
    maxMessageSize: spec.maxMessageSize ?? POOL_DEFAULTS.maxMessageSize,
    maxRecipients: spec.maxRecipients ?? POOL_DEFAULTS.maxRecipients,
    reputation,
    ...(feedback ? { feedback } : {}),
    ...(webhooks.length > 0 ? { webhooks } : {}),
  };
}

/** The IPs a given sender pod sends from, in pool order. */
export function ipsOfPod(pool: CompiledPool, pod: string): CompiledIp[] {
  return pool.ips.filter((ip) => ip.pod === pod);
}

/** IPs that may take new jobs: assigned, not draining, their node available. */
export function activeIps(pool: CompiledPool): CompiledIp[] {
  return pool.ips.filter((ip) => ip.pod !== undefined && !ip.draining && !ip.nodeUnavailable);
}

/** Whether senders bind their connections to the IP (not behind an egress gateway). */
export function bindsSourceAddress(pool: Pick<CompiledPool, 'egress'>): boolean {
  return pool.egress !== 'gateway';
}
