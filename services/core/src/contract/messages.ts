/**
 * The messages that travel between services, versioned (`v`) and validated where they
 * enter a process: a malformed message is a bug in another process, and it must be named,
 * not half-processed.
 */
import { Ajv, type JSONSchemaType, type ValidateFunction } from 'ajv';
import { SchemaError } from '../errors.ts';
import type { DeliveryEvent, QueueActionEvent } from './events.ts';
import type { TraceIndexEntry } from './trace.ts';

/** Where a body is kept: inline in the bodies stream, or chunked in the object store. */
export interface BodyRef {
  store: 'stream' | 'object';
  size: number;
  /** Stream sequence of an inline body, so it can be removed without a subject purge. */
  seq?: number;
}

/** NOTIFY values of RCPT TO (RFC 3461 §4.1); NEVER stands alone. */
export type DsnNotify = 'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY';

/** Longest ENVID (RFC 3461 §4.4) and ORCPT (§4.2), in characters as sent (xtext). */
export const ENVID_MAX = 100;
/** Longest Message-ID kept: RFC 5322 lines stop at 998 characters. */
export const MESSAGE_ID_MAX = 998;
export const ORCPT_MAX = 500;

/**
 * The DSN parameters of MAIL FROM (RFC 3461 §4.3, §4.4). They travel with the message so
 * that DSNs can quote them and the sender can pass them on to a next hop that offers DSN.
 */
export interface EnvelopeDsn {
  /** RET: what of the message a failure report should return. */
  ret?: 'FULL' | 'HDRS';
  /** ENVID, xtext-decoded: quoted back in DSNs as Original-Envelope-Id. */
  envid?: string;
}

/** The DSN parameters of one RCPT TO (RFC 3461 §4.1, §4.2). */
export interface RecipientDsn {
  rcpt: string;
  /** NOTIFY as given; absent: the client did not say (failures are reported). */
  notify?: DsnNotify[];
  /** ORCPT, xtext-decoded: "rfc822;original@example.org". */
  orcpt?: string;
}

/**
 * DSN parameters as they are carried on envelopes, queue items and jobs: `rcptDsn` lists
 * only recipients that had any, so mail without DSN parameters carries nothing extra.
 */
export interface DsnParameters {
  dsn?: EnvelopeDsn;
  rcptDsn?: RecipientDsn[];
}

export interface Envelope extends DsnParameters {
  v: 1;
  id: string;
  pool: string;
  receivedAt: number;
  /** Envelope sender; '' is the null sender <>. */
  from: string;
  rcpts: string[];
  body: BodyRef;
  submitter?: string;
  clientAddress?: string;
  /**
   * Bulk mail (List-Unsubscribe, or Precedence: bulk or list): what the complaint guard holds
   * back for a sender domain over its stop rate. Absent: not bulk.
   */
  bulk?: boolean;
  /** The Message-ID header field's value, angle brackets removed (absent: none found). */
  messageId?: string;
}

/** The reply one recipient got on its previous attempt, kept on the retry so that an
 * expiry while it waits can still tell the sender what the receiver said. */
export interface LastReply {
  rcpt: string;
  code: number;
  enhanced?: string;
  text: string;
  remoteHost?: string;
  /** Epoch ms when the attempt ended. */
  at: number;
}

/** One delivery item: the recipients of one message at one destination domain. */
export interface QueueItem extends DsnParameters {
  v: 1;
  id: string;
  pool: string;
  domain: string;
  from: string;
  rcpts: string[];
  body: BodyRef;
  receivedAt: number;
  attempt: number;
  notBefore: number;
  /** The IP of the previous attempt, if any (to spread retries). */
  lastIp?: string;
  /** What the previous attempt was answered, per recipient (absent before the first). */
  lastReplies?: LastReply[];
  /**
   * Which share of the domain's recipients this is, when the rate policy's
   * recipientsPerMessage split them (0..n-1); absent: the only one.
   */
  part?: number;
  /** See Envelope.bulk. */
  bulk?: boolean;
  /** The message's Message-ID (see Envelope.messageId), for logs and traces. */
  messageId?: string;
  /** See Envelope.submitter: the complaint guard holds a submitter's bulk mail too. */
  submitter?: string;
}

export interface Job extends DsnParameters {
  v: 1;
  jobId: string;
  id: string;
  pool: string;
  domain: string;
  ip: string;
  policy: string;
  from: string;
  rcpts: string[];
  body: BodyRef;
  receivedAt: number;
  attempt: number;
  /** The queue item's part, when its recipients were split (see QueueItem.part). */
  part?: number;
  /** See Envelope.bulk. */
  bulk?: boolean;
  /** See Envelope.submitter: the complaint guard's denominator per submitter. */
  submitter?: string;
  /**
   * MAIL FROM for this delivery when the pool writes its own return path (one recipient,
   * a signed token); `from` stays the client's sender, for DSNs and events.
   */
  returnPath?: string;
  /** The message's Message-ID (see Envelope.messageId), for logs and traces. */
  messageId?: string;
  /** When the scheduler released the job (its clock): tells a late reply from a new one. */
  dispatchedAt?: number;
  /**
   * Concurrent connections the sender may hold for this (IP, destination), when adaptive
   * shaping learned fewer than the rate policy declares; absent: the policy's.
   */
  connections?: number;
}

export type RecipientStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientOutcome {
  rcpt: string;
  status: RecipientStatus;
  code: number;
  enhanced?: string;
  text: string;
  remoteHost?: string;
  /** The address of remoteHost that was connected to (the last one tried, on failure). */
  remoteAddress?: string;
  remoteQueueId?: string;
  /** Set when the failure came from the connection, not from a reply. */
  errorCode?: string;
  /**
   * Delivered outcomes only: true when the receiver advertised DSN, so the recipient's DSN
   * parameters went with it and any success report is the receiver's to send (RFC 3461
   * §6.2.1). Absent: it did not, and this relay reports a requested success as "relayed".
   */
  remoteDsn?: boolean;
  /**
   * Delivered outcomes only: the mode of the recipient domain's MTA-STS policy (RFC 8461)
   * that applied. `enforce`: the receiver matched the policy's MX patterns and its
   * certificate verified for its name. `testing`: the policy was checked and reported on,
   * not enforced. Absent: no policy applied.
   */
  mtaSts?: MtaStsAppliedMode;
}

/** MTA-STS modes that change what the sender does or reports; `none` is as no policy. */
export type MtaStsAppliedMode = 'enforce' | 'testing';

export interface JobResult {
  v: 1;
  job: Job;
  outcomes: RecipientOutcome[];
  startedAt: number;
  finishedAt: number;
  tls?: { version: string; cipher: string };
}

/** A feedback message the ingress accepted for a pool's bounce or complaint address. */
export interface FeedbackEnvelope {
  v: 1;
  id: string;
  pool: string;
  receivedAt: number;
  /** The report's envelope sender ('' for the null sender most reports use). */
  from: string;
  /** The feedback address it was sent to (the return path token, or the complaint address). */
  to: string;
  clientAddress?: string;
  body: BodyRef;
}

const bodyRefSchema = {
  type: 'object',
  properties: {
    store: { type: 'string', enum: ['stream', 'object'] },
    size: { type: 'integer', minimum: 0 },
    seq: { type: 'integer', minimum: 1, nullable: true },
  },
  required: ['store', 'size'],
  additionalProperties: false,
} as const;

const addressList = {
  type: 'array',
  items: { type: 'string', maxLength: 512 },
  minItems: 1,
} as const;

const envelopeDsnSchema = {
  type: 'object',
  properties: {
    ret: { type: 'string', enum: ['FULL', 'HDRS'], nullable: true },
    envid: { type: 'string', maxLength: ENVID_MAX, nullable: true },
  },
  additionalProperties: true,
  nullable: true,
} as const;

const recipientDsnList = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      rcpt: { type: 'string', maxLength: 512 },
      notify: {
        type: 'array',
        items: { type: 'string', enum: ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'] },
        minItems: 1,
        maxItems: 3,
        uniqueItems: true,
        nullable: true,
      },
      orcpt: { type: 'string', maxLength: ORCPT_MAX, nullable: true },
    },
    required: ['rcpt'],
    additionalProperties: true,
  },
  nullable: true,
} as const;

const envelopeSchema: JSONSchemaType<Envelope> = {
  type: 'object',
  properties: {
    v: { type: 'integer', const: 1 },
    id: { type: 'string', minLength: 1 },
    pool: { type: 'string', minLength: 1 },
    receivedAt: { type: 'number' },
    from: { type: 'string', maxLength: 512 },
    rcpts: addressList,
    body: bodyRefSchema,
    submitter: { type: 'string', nullable: true },
    clientAddress: { type: 'string', nullable: true },
    messageId: { type: 'string', maxLength: MESSAGE_ID_MAX, nullable: true },
    dsn: envelopeDsnSchema,
    rcptDsn: recipientDsnList,
    bulk: { type: 'boolean', nullable: true },
  },
  required: ['v', 'id', 'pool', 'receivedAt', 'from', 'rcpts', 'body'],
  additionalProperties: true,
};

/** Longest reply text kept on a queue item: enough for any real reply, bounded for the stream. */
export const LAST_REPLY_TEXT_MAX = 1024;

const lastReplySchema: JSONSchemaType<LastReply> = {
  type: 'object',
  properties: {
    rcpt: { type: 'string' },
    code: { type: 'integer' },
    enhanced: { type: 'string', nullable: true },
    text: { type: 'string', maxLength: LAST_REPLY_TEXT_MAX },
    remoteHost: { type: 'string', nullable: true },
    at: { type: 'number' },
  },
  required: ['rcpt', 'code', 'text', 'at'],
  additionalProperties: true,
};

const queueItemSchema: JSONSchemaType<QueueItem> = {
  type: 'object',
  properties: {
    v: { type: 'integer', const: 1 },
    id: { type: 'string', minLength: 1 },
    pool: { type: 'string', minLength: 1 },
    domain: { type: 'string', minLength: 1 },
    from: { type: 'string', maxLength: 512 },
    rcpts: addressList,
    body: bodyRefSchema,
    receivedAt: { type: 'number' },
    attempt: { type: 'integer', minimum: 0 },
    notBefore: { type: 'number' },
    lastIp: { type: 'string', nullable: true },
    lastReplies: { type: 'array', items: lastReplySchema, nullable: true },
    part: { type: 'integer', minimum: 0, nullable: true },
    messageId: { type: 'string', maxLength: MESSAGE_ID_MAX, nullable: true },
    dsn: envelopeDsnSchema,
    rcptDsn: recipientDsnList,
    bulk: { type: 'boolean', nullable: true },
    submitter: { type: 'string', maxLength: 512, nullable: true },
  },
  required: [
    'v',
    'id',
    'pool',
    'domain',
    'from',
    'rcpts',
    'body',
    'receivedAt',
    'attempt',
    'notBefore',
  ],
  additionalProperties: true,
};

const jobSchema: JSONSchemaType<Job> = {
  type: 'object',
  properties: {
    v: { type: 'integer', const: 1 },
    jobId: { type: 'string', minLength: 1 },
    id: { type: 'string', minLength: 1 },
    pool: { type: 'string', minLength: 1 },
    domain: { type: 'string', minLength: 1 },
    ip: { type: 'string', minLength: 1 },
    policy: { type: 'string' },
    from: { type: 'string', maxLength: 512 },
    rcpts: addressList,
    body: bodyRefSchema,
    receivedAt: { type: 'number' },
    attempt: { type: 'integer', minimum: 0 },
    part: { type: 'integer', minimum: 0, nullable: true },
    messageId: { type: 'string', maxLength: MESSAGE_ID_MAX, nullable: true },
    dispatchedAt: { type: 'number', nullable: true },
    connections: { type: 'integer', minimum: 1, nullable: true },
    dsn: envelopeDsnSchema,
    rcptDsn: recipientDsnList,
    bulk: { type: 'boolean', nullable: true },
    submitter: { type: 'string', maxLength: 512, nullable: true },
    returnPath: { type: 'string', maxLength: 512, nullable: true },
  },
  required: [
    'v',
    'jobId',
    'id',
    'pool',
    'domain',
    'ip',
    'policy',
    'from',
    'rcpts',
    'body',
    'receivedAt',
    'attempt',
  ],
  additionalProperties: true,
};

const outcomeSchema: JSONSchemaType<RecipientOutcome> = {
  type: 'object',
  properties: {
    rcpt: { type: 'string' },
    status: { type: 'string', enum: ['delivered', 'deferred', 'failed'] },
    code: { type: 'integer' },
    enhanced: { type: 'string', nullable: true },
    text: { type: 'string' },
    remoteHost: { type: 'string', nullable: true },
    remoteAddress: { type: 'string', nullable: true },
    remoteQueueId: { type: 'string', nullable: true },
    errorCode: { type: 'string', nullable: true },
    remoteDsn: { type: 'boolean', nullable: true },
    mtaSts: { type: 'string', enum: ['enforce', 'testing'], nullable: true },
  },
  required: ['rcpt', 'status', 'code', 'text'],
  additionalProperties: true,
};

const resultSchema: JSONSchemaType<JobResult> = {
  type: 'object',
  properties: {
    v: { type: 'integer', const: 1 },
    job: jobSchema,
    outcomes: { type: 'array', items: outcomeSchema },
    startedAt: { type: 'number' },
    finishedAt: { type: 'number' },
    tls: {
      type: 'object',
      properties: { version: { type: 'string' }, cipher: { type: 'string' } },
      required: ['version', 'cipher'],
      nullable: true,
    },
  },
  required: ['v', 'job', 'outcomes', 'startedAt', 'finishedAt'],
  additionalProperties: true,
};

const traceIndexSchema: JSONSchemaType<TraceIndexEntry> = {
  type: 'object',
  properties: {
    v: { type: 'integer', const: 1 },
    id: { type: 'string', minLength: 1 },
    pool: { type: 'string', minLength: 1 },
    at: { type: 'number' },
  },
  required: ['v', 'id', 'pool', 'at'],
  additionalProperties: true,
};

const feedbackEnvelopeSchema: JSONSchemaType<FeedbackEnvelope> = {
  type: 'object',
  properties: {
    v: { type: 'integer', const: 1 },
    id: { type: 'string', minLength: 1 },
    pool: { type: 'string', minLength: 1 },
    receivedAt: { type: 'number' },
    from: { type: 'string', maxLength: 512 },
    to: { type: 'string', minLength: 1, maxLength: 512 },
    clientAddress: { type: 'string', nullable: true },
    body: bodyRefSchema,
  },
  required: ['v', 'id', 'pool', 'receivedAt', 'from', 'to', 'body'],
  additionalProperties: true,
};

const ajv = new Ajv({ allErrors: true });

export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(data: Uint8Array): T;
}

function codec<T>(what: string, schema: JSONSchemaType<T>): Codec<T> {
  const validate: ValidateFunction<T> = ajv.compile(schema);
  return {
    encode: (value) => Buffer.from(JSON.stringify(value)),
    decode: (data) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(data).toString('utf8'));
      } catch (err) {
        throw new SchemaError(what, [`not JSON: ${(err as Error).message}`]);
      }
      if (!validate(parsed)) {
        throw new SchemaError(
          what,
          (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`),
        );
      }
      return parsed;
    },
  };
}

export const codecs = {
  envelope: codec('envelope', envelopeSchema),
  queueItem: codec('queue item', queueItemSchema),
  job: codec('job', jobSchema),
  result: codec('job result', resultSchema),
  feedback: codec('feedback envelope', feedbackEnvelopeSchema),
  traceIndex: codec('trace index entry', traceIndexSchema),
  event: {
    encode: (value: DeliveryEvent): Uint8Array => Buffer.from(JSON.stringify(value)),
    decode: (data: Uint8Array): DeliveryEvent =>
      JSON.parse(Buffer.from(data).toString('utf8')) as DeliveryEvent,
  } satisfies Codec<DeliveryEvent>,
  queueAction: {
    encode: (value: QueueActionEvent): Uint8Array => Buffer.from(JSON.stringify(value)),
    decode: (data: Uint8Array): QueueActionEvent =>
      JSON.parse(Buffer.from(data).toString('utf8')) as QueueActionEvent,
  } satisfies Codec<QueueActionEvent>,
} as const;
