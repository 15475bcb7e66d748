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
  /** Egress mode hostNetwork: the node that holds this address (required there, refused elsewhere). */
  node?: string;
}

export interface SendersSpec {
  ipsPerPod?: number;
  /** Pod template overrides (nodeSelector, tolerations, hostNetwork, annotations, ...). */
  template?: Record<string, unknown>;
}

/**
 * How a sender pod comes to send from its addresses. Absent: as the pod template makes it
 * (one StatefulSet for the pool; the template must give the pods their addresses).
 *
 * - hostNetwork: each sender pod runs on the node of its IPs (ips[].node), in the node's
 *   network namespace;
 * - multus: each sender pod gets its IPs as static addresses on a secondary interface from
 *   a NetworkAttachmentDefinition;
 * - gateway: the sender does not bind; a cluster egress gateway translates each pod's
 *   traffic to the IP its labels name.
 */
export type EgressMode = 'hostNetwork' | 'multus' | 'gateway';

export interface MultusEgressSpec {
  /** Name of the NetworkAttachmentDefinition. */
  network: string;
  /** Its namespace; absent: the pool's. */
  namespace?: string;
  /** Name of the interface in the pod. */
  interface?: string;
  /** Prefix length given with each IPv4 address (static IPAM). */
  ipv4PrefixLength?: number;
  /** Prefix length given with each IPv6 address. */
  ipv6PrefixLength?: number;
}

export interface CiliumEgressSpec {
  /** Labels of the egress gateway node that holds the pool's addresses. */
  nodeSelector: Record<string, string>;
  /** Destinations whose traffic is translated. */
  destinationCIDRs?: string[];
}

export interface GatewayEgressSpec {
  /** Present: the operator keeps one CiliumEgressGatewayPolicy per IP. */
  cilium?: CiliumEgressSpec;
}

export interface EgressSpec {
  mode: EgressMode;
  multus?: MultusEgressSpec;
  gateway?: GatewayEgressSpec;
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

/** Complaint-rate guard of each sender domain and each submitter (docs/feedback.md). */
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

export interface DnsblZoneSpec {
  /** The list's zone, e.g. zen.spamhaus.org. */
  zone: string;
  /** pause: a listed IP takes no new jobs; warn: it is shown, not paused. Default pause. */
  action?: 'pause' | 'warn';
}

export interface ReputationSpec {
  /** false: no checks, nothing paused. Default true. */
  enabled?: boolean;
  /** How often each IP is checked against DNS (default 15m, jittered). */
  checkInterval?: string;
  /** How long a cleared cause must stay clear before a paused IP resumes (default 1h). */
  coolDown?: string;
  /** DNS blocklists to query; absent: zen.spamhaus.org, b.barracudacentral.org, bl.spamcop.net. */
  dnsbl?: DnsblZoneSpec[];
  /** Forward-confirmed reverse DNS against each IP's hostname (default warn). */
  fcrdns?: 'off' | 'warn' | 'pause';
  /** Receivers' block and reputation refusals of an IP over a rolling window. */
  blockReplies?: {
    window?: string;
    minAttempts?: number;
    /** Share of recipients refused for reputation or policy (0..1) that pauses the IP. */
    threshold?: number;
    action?: 'off' | 'warn' | 'pause';
  };
  /** Check loopback, private and documentation addresses too (default false). */
  checkPrivateAddresses?: boolean;
}

/** An HTTPS endpoint that receives the pool's events in signed batches (docs/webhooks.md). */
export interface WebhookSpec {
  /** Names the webhook in metrics, headers and its durable consumer (a DNS label). */
  name: string;
  /** https:// URL the batches are POSTed to. */
  url: string;
  /** Event types sent: delivered, deferred, bounced, expired, suppressed, complained. */
  events: string[];
  /** Secret in the pool's namespace holding the signing secret. */
  secretKeyRef?: SecretKeyRef;
  /** Local mode only: a file holding the signing secret. */
  secretFile?: string;
  /** Most events in one POST (default 100). */
  maxBatchEvents?: number;
  /** Largest body of one POST, in bytes (default 256 KiB). */
  maxBatchBytes?: number;
  /** How long a batch waits for more events before it is sent (default 2s). */
  maxBatchWait?: string;
  /** How long an event is retried before it is dropped and counted (default 24h). */
  maxAge?: string;
}

export interface RelayPoolSpec {
  submitters?: SubmitterSpec[];
  allowedNetworks?: string[];
  ips: IpSpec[];
  senders?: SendersSpec;
  egress?: EgressSpec;
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
  /** Blocklist, reverse DNS and block-reply checks of the sending IPs (docs/reputation.md). */
  reputation?: ReputationSpec;
  /** HTTPS endpoints the pool's events are delivered to (docs/webhooks.md). */
  webhooks?: WebhookSpec[];
}

export interface RelayPoolResource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number; [k: string]: unknown };
  spec: RelayPoolSpec;
  status?: Record<string, unknown>;
}
