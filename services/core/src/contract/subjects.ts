/**
 * Every NATS subject and stream name the services use. Nothing else builds a subject: a
 * subject is a wire contract between processes that may run different versions.
 */

/** A pool's identity in subjects and keys: namespace and name joined, dots made safe. */
export function poolKey(namespace: string, name: string): string {
  return `${namespace}_${name}`.replace(/[.*>\s]/g, '-');
}

/** An IP address as one subject token (dots and colons are not allowed in a token). */
export function ipToken(address: string): string {
  return address.replace(/[.:]/g, '-');
}

export const STREAMS = {
  /** Accepted envelopes, one per message, consumed by the scheduler. */
  envelopes: 'HIKYAKU_ENVELOPES',
  /** Message bodies that fit in one NATS message; larger ones live in the object store. */
  bodies: 'HIKYAKU_BODIES',
  /**
   * Bodies still needed a while after they were stored, copied out of the bodies stream so
   * that its purges can pass them (HIKYAKU_BODY_REMOVAL=purge); removed one by one.
   */
  bodiesKept: 'HIKYAKU_BODIES_KEPT',
  /** Delivery items: one per (message, destination domain, attempt), shaped by the scheduler. */
  queue: 'HIKYAKU_QUEUE',
  /** Delivery jobs addressed to the sender that owns an IP. */
  jobs: 'HIKYAKU_JOBS',
  /** Per-recipient outcomes reported by senders. */
  results: 'HIKYAKU_RESULTS',
  /** Delivery events for consumers outside the relay (webhooks, audit, tests). */
  events: 'HIKYAKU_EVENTS',
  /** Feedback messages (bounces, complaint reports) the ingress took at a pool's bounce domain. */
  feedback: 'HIKYAKU_FEEDBACK',
  /**
   * The same events filed under their queue id, plus index entries by Message-ID and by
   * recipient, so one message's timeline is read by subject instead of scanning events.
   */
  trace: 'HIKYAKU_TRACE',
} as const;

export const CONSUMERS = {
  schedulerEnvelopes: 'scheduler-envelopes',
  /**
   * Envelopes written in the header of their body's message (wire version 2 ingress): a
   * headers-only consumer of the bodies stream, so the scheduler never pulls the bodies.
   */
  schedulerBodyEnvelopes: 'scheduler-body-envelopes',
  schedulerQueue: 'scheduler-queue',
  schedulerResults: 'scheduler-results',
  schedulerFeedback: 'scheduler-feedback',
  /** One durable per sending IP, so a job is only ever taken by the IP's owner. */
  senderJobs: (pool: string, address: string): string => `sender-${pool}-${ipToken(address)}`,
  /** One durable per webhook of a pool, shared by the pool's sender pods. */
  webhook: (pool: string, webhook: string): string => `webhook-${pool}-${webhook}`,
} as const;

/** Core NATS queue groups: each request goes to one member. */
export const QUEUE_GROUPS = {
  /** The schedulers serving result hand-offs. */
  resultHandoff: 'scheduler-result-handoff',
} as const;

export const SUBJECTS = {
  envelope: (pool: string): string => `hikyaku.envelope.${pool}`,
  envelopeAll: 'hikyaku.envelope.>',
  body: (messageId: string): string => `hikyaku.body.${messageId}`,
  bodyAll: 'hikyaku.body.>',
  /** A body copied to the kept-bodies stream. */
  keptBody: (messageId: string): string => `hikyaku.kept-body.${messageId}`,
  keptBodyAll: 'hikyaku.kept-body.>',
  queue: (pool: string): string => `hikyaku.queue.${pool}`,
  queueAll: 'hikyaku.queue.>',
  job: (pool: string, address: string): string => `hikyaku.job.${pool}.${ipToken(address)}`,
  jobAll: 'hikyaku.job.>',
  /** Every job of one pool, whatever its IP. */
  jobsOfPool: (pool: string): string => `hikyaku.job.${pool}.*`,
  result: (pool: string): string => `hikyaku.result.${pool}`,
  resultAll: 'hikyaku.result.>',
  /** A result handed to a scheduler directly (core NATS request; contract/handoff.ts). */
  resultHandoff: (pool: string): string => `hikyaku.handoff.result.${pool}`,
  resultHandoffAll: 'hikyaku.handoff.result.>',
  /** A delivery event as versions before the keyed form published it (still read, never written). */
  event: (pool: string, type: string): string => `hikyaku.event.${pool}.${type}`,
  /** Every event of one pool in the form before the keyed one. */
  eventsOfPool: (pool: string): string => `hikyaku.event.${pool}.*`,
  /**
   * A delivery event, stored once, keyed for `hikyaku trace`: the queue id and the digests
   * of the recipient and the Message-ID (see traceDigest; NO_DIGEST without one) are
   * subject tokens a filter can match. The type stays the last token, where readers of the
   * first form looked for it.
   */
  deliveryEvent: (pool: string, queueId: string, rcpt: string, mid: string, type: string): string =>
    `hikyaku.event.${pool}.${queueId}.${rcpt}.${mid}.${type}`,
  /** Every event of one pool in either form, queue actions included (see parseEventSubject). */
  allEventsOfPool: (pool: string): string => `hikyaku.event.${pool}.>`,
  /** Keyed delivery events of one pool and type, e.g. every `delivered` (benchmarks, tests). */
  deliveryEventsOfType: (pool: string, type: string): string =>
    `hikyaku.event.${pool}.*.*.*.${type}`,
  /** Keyed delivery events of one message, one recipient digest or one Message-ID digest. */
  eventsOfQueueId: (queueId: string): string => `hikyaku.event.*.${queueId}.*.*.*`,
  eventsOfRecipient: (digest: string): string => `hikyaku.event.*.*.${digest}.*.*`,
  eventsOfMessageId: (digest: string): string => `hikyaku.event.*.*.*.${digest}.*`,
  /**
   * Progress a message makes between its outcomes (accepted, planned), published without
   * being stored: for live watchers only. The outcome events carry these facts for the trace.
   */
  progress: (pool: string, type: string): string => `hikyaku.progress.${pool}.${type}`,
  progressAll: 'hikyaku.progress.>',
  /** What an admin did to a destination's queue (held, released, flushed): not a delivery event. */
  queueAction: (pool: string, action: string): string => `hikyaku.event.${pool}.queue.${action}`,
  eventAll: 'hikyaku.event.>',
  /**
   * JetStream's API subject that deletes one message of a stream by sequence, for a removal
   * published without a reply subject (body-store.ts); `apiPrefix` as the client's.
   */
  streamMessageDelete: (stream: string, apiPrefix = '$JS.API'): string =>
    `${apiPrefix}.STREAM.MSG.DELETE.${stream}`,
  /** A direct get of the last message on `subject` in `stream` (body-store.ts). */
  directGetLast: (stream: string, subject: string, apiPrefix = '$JS.API'): string =>
    `${apiPrefix}.DIRECT.GET.${stream}.${subject}`,
  feedback: (pool: string): string => `hikyaku.feedback.${pool}`,
  feedbackAll: 'hikyaku.feedback.>',
  /** A message's events, by queue id (a queue id is one subject token: see isQueueId). */
  traceMessage: (queueId: string): string => `hikyaku.trace.msg.${queueId}`,
  /** Index entries naming the queue ids of a Message-ID or a recipient (see traceDigest). */
  traceIndex: (kind: 'mid' | 'rcpt', digest: string): string => `hikyaku.trace.${kind}.${digest}`,
  traceAll: 'hikyaku.trace.>',
} as const;

/** JetStream message ids used for publish de-duplication (at-least-once without duplicates). */
export const MSG_IDS = {
  body: (messageId: string): string => `body:${messageId}`,
  envelope: (messageId: string): string => `env:${messageId}`,
  /** `part` only for a domain whose recipients were split; part 0 keeps the plain id. */
  queueItem: (messageId: string, domain: string, attempt: number, part = 0): string =>
    `q:${messageId}:${domain}:${attempt}${part > 0 ? `:${part}` : ''}`,
  job: (messageId: string, domain: string, attempt: number, part = 0): string =>
    `job:${messageId}:${domain}:${attempt}${part > 0 ? `:${part}` : ''}`,
  result: (jobId: string): string => `res:${jobId}`,
  /**
   * An outcome event of a job's result: a result recorded twice (a hand-off whose answer
   * was lost, then the stream) stores each of its events once.
   */
  outcomeEvent: (jobId: string, type: string, rcpt: string): string =>
    `ev:${jobId}:${type}:${rcpt}`,
  /** The due copy a flush publishes of the waiting item at that queue stream sequence. */
  flushedItem: (seq: number): string => `flush:${seq}`,
  feedback: (messageId: string): string => `fb:${messageId}`,
} as const;

export const KV_BUCKETS = {
  /** Compiled pool policy, written by the operator (or local mode), read by the data plane. */
  pools: 'hikyaku-pools',
  /** What senders report for the control plane to show: e.g. an assigned IP not on the pod. */
  senderReports: 'hikyaku-sender-reports',
  /** Where each sending IP stands with blocklists, reverse DNS and receivers (the scheduler writes). */
  ipReputation: 'hikyaku-ip-reputation',
  /** Settings the whole relay shares: the wire version its pods write (relay-wire-version.ts). */
  relay: 'hikyaku-relay',
} as const;

export const KV_KEYS = {
  /** In KV_BUCKETS.relay: the wire version pods write unless HIKYAKU_WIRE_VERSION says. */
  wireVersion: 'wire-version',
  pool: (pool: string): string => `pool.${pool}`,
  sourceAbsent: (pool: string, address: string): string => `absent.${pool}.${ipToken(address)}`,
  ipReputation: (pool: string, address: string): string => `rep.${pool}.${ipToken(address)}`,
  /** Every IP of one pool (a KV key filter). */
  ipReputationOfPool: (pool: string): string => `rep.${pool}.>`,
  ipReputationAll: 'rep.>',
  /** A sender domain over its complaint guard's warning line (the domain's dots are key tokens). */
  complaint: (pool: string, domain: string): string => `complaint.${pool}.${domain}`,
  /**
   * A submitter over its complaint guard's warning line. Usernames may hold characters a
   * KV key may not (`@`, `+`), so the name is base64url-encoded.
   */
  submitterComplaint: (pool: string, submitter: string): string =>
    `complaint-submitter.${pool}.${Buffer.from(submitter, 'utf8').toString('base64url')}`,
} as const;

/** Pool key and IP token of a reputation key (`rep.<pool>.<ip-token>`); undefined for others. */
export function parseIpReputationKey(key: string): { pool: string; token: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== 'rep') return undefined;
  return { pool: parts[1] as string, token: parts[2] as string };
}

/**
 * What an event subject names: a delivery event of either form (the type is its last
 * token) or a queue action (`hikyaku.event.<pool>.queue.<action>`); undefined for others.
 */
export function parseEventSubject(
  subject: string,
): { kind: 'delivery' | 'queue action'; pool: string; type: string } | undefined {
  const parts = subject.split('.');
  if (parts[0] !== 'hikyaku' || parts[1] !== 'event') return undefined;
  const pool = parts[2] as string;
  const type = parts[parts.length - 1] as string;
  if (parts.length === 4 || parts.length === 7) return { kind: 'delivery', pool, type };
  if (parts.length === 5 && parts[3] === 'queue') return { kind: 'queue action', pool, type };
  return undefined;
}

export const OBJECT_BUCKETS = {
  bodies: 'hikyaku-bodies',
} as const;
