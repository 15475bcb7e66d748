/**
 * The RelayPool resource as users write it (hikyaku.io/v1alpha1). The OpenAPI schema in
 * crds/relaypools.hikyaku.io.yaml is the authority on validation; these types mirror it so that code
 * reading a spec that passed validation is typed. Durations are strings such as "90s",
 * "10m", "4h", "3d".
 */

export const RELAYPOOL_GROUP = 'hikyaku.io';
export const RELAYPOOL_VERSION = 'v1alpha1';
export const RELAYPOOL_KIND = 'RelayPool';
export const RELAYPOOL_PLURAL = 'relaypools';

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface SubmitterSpec {
  username: string;
  /** Kubernetes Secret holding the password (local mode: a file, see passwordFile). */
  passwordSecretRef?: SecretKeyRef;
  /** Local mode only: a file holding the password. */
  passwordFile?: string;
  allowedSenderDomains?: string[];
  /** Messages per minute this submitter may hand in; absent = unlimited. */
  messagesPerMinute?: number;
}

export interface WarmupSpec {
  /** Calendar day (YYYY-MM-DD, in the pool's time zone) the IP starts warming. */
  startDate: string;
}

export interface IpSpec {
  address: string;
  /** EHLO name of this IP; should match its PTR record. */
  hostname: string;
  /** Absent: the IP is already warm. */
  warmup?: WarmupSpec;
}

export interface SendersSpec {
  ipsPerPod?: number;
  /** Pod template overrides (nodeSelector, tolerations, hostNetwork, annotations, ...). */
  template?: Record<string, unknown>;
}

export interface WarmupStepSpec {
  day: number;
  dailyLimit: number;
}

export interface PoolWarmupSpec {
  schedule: WarmupStepSpec[];
  /** defer: wait for tomorrow's cap; spill: send from already-warm IPs. */
  overflow?: 'defer' | 'spill';
  /** Advance to the next day only when yesterday's delivered ratio reached this (0..1). */
  minDeliveredRatio?: number;
}

export interface RateMatchSpec {
  domains?: string[];
  mxHosts?: string[];
}

export interface PerIpRateSpec {
  messagesPerMinute?: number;
  connections?: number;
  messagesPerConnection?: number;
  recipientsPerMessage?: number;
}

export interface ThrottleSpec {
  pause?: string;
  factor?: number;
  recoverAfter?: string;
  /** Reply text patterns (regular expressions, case-insensitive) that mean "slow down". */
  patterns?: string[];
}

export interface RatePolicySpec {
  name: string;
  match?: RateMatchSpec;
  perIp?: PerIpRateSpec;
  /** Messages per minute across the whole pool for this destination. */
  poolMessagesPerMinute?: number;
  onThrottle?: ThrottleSpec;
  tls?: 'opportunistic' | 'required';
}

export interface RetrySpec {
  schedule?: string[];
  maxAge?: string;
}

export interface BounceSpec {
  suppressHardBounces?: boolean;
  notifySender?: boolean;
}

/** Complaint-rate guard of one sender domain (docs/feedback.md). */
export interface ComplaintGuardSpec {
  /** Rate (0..1) above which the pool warns; default 0.001 (0.1 %). */
  warnRate?: number;
  /** Rate (0..1) above which the pool acts; default 0.003 (0.3 %, Gmail's line). */
  stopRate?: number;
  /** defer: hold the domain's bulk mail until an admin releases it; warn: only report. */
  action?: 'defer' | 'warn';
  /** The rolling window the rate is computed over, in whole days ("7d"). */
  window?: string;
  /** Delivered messages a domain needs in the window before its rate is judged. */
  minDelivered?: number;
}

/** Feedback the pool receives by mail: late bounces and complaint reports. */
export interface FeedbackSpec {
  /** Domain of the return path the relay writes (b+<token>@bounceDomain); its MX is the ingress. */
  bounceDomain: string;
  /** Address complaint reports (ARF) are sent to; default fbl@<bounceDomain>. */
  complaintAddress?: string;
  /** Secret the return path tokens are signed with (HMAC). */
  signingKeySecretRef?: SecretKeyRef;
  /** Local mode only: a file holding that secret. */
  signingKeyFile?: string;
  /** Sender domains whose mail gets the relay's return path; "*": every one (default). */
  senderDomains?: string[];
  /** Largest feedback message accepted, in bytes. */
  maxReportSize?: number;
  /** Feedback messages one client address may hand in per minute. */
  reportsPerMinute?: number;
  complaints?: ComplaintGuardSpec;
}

export interface DkimSpec {
  domain: string;
  selector: string;
  privateKeySecretRef?: SecretKeyRef;
  /** Local mode only: a PEM file. */
  privateKeyFile?: string;
}

export interface RouteSpec {
  /** Destination domains this route serves ("*" alone: every domain, a smarthost). */
  domains: string[];
  /** host:port of the next hop; the port defaults to 25. */
  host: string;
  port?: number;
}

export interface RelayPoolSpec {
  submitters?: SubmitterSpec[];
  allowedNetworks?: string[];
  ips: IpSpec[];
  senders?: SendersSpec;
  warmup?: PoolWarmupSpec;
  ratePolicies?: RatePolicySpec[];
  retry?: RetrySpec;
  bounces?: BounceSpec;
  dkim?: DkimSpec[];
  routes?: RouteSpec[];
  feedback?: FeedbackSpec;
  /** IANA time zone in which warm-up days and daily caps are counted. */
  timeZone?: string;
  /** Largest message accepted, in bytes. */
  maxMessageSize?: number;
  maxRecipients?: number;
}

export interface RelayPoolResource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number; [k: string]: unknown };
  spec: RelayPoolSpec;
  status?: Record<string, unknown>;
}
