/**
 * The delivery record and the two messages that carry it, queue items and jobs (and the
 * results that carry a job back), with their wire versions.
 *
 * A delivery is the recipients of one message at one destination domain, defined once and
 * carried whole from the envelope stage to the sender and back. On the wire it travels in
 * one of two shapes: v1, the delivery's fields flat beside the item's or job's own, and v2,
 * the delivery nested. Decoders read both and always give the nested in-memory shape;
 * encoders write the version the process was configured with (HIKYAKU_WIRE_VERSION), so a
 * relay whose pods run two releases during a rolling upgrade never sends a reader a shape
 * it cannot read. A version newer than this code knows is a `WireVersionError`, not a
 * malformed message: readers hand it back to JetStream for a newer pod instead of dropping
 * it.
 */
import type { JSONSchemaType, ValidateFunction } from 'ajv';
import { SchemaError, WireVersionError } from '../errors.ts';
import type { BodyRef, Codec, DsnParameters, LastReply, RecipientOutcome } from './messages.ts';
import {
  addressList,
  ajv,
  bodyRefSchema,
  envelopeDsnSchema,
  issuesOf,
  lastReplySchema,
  MESSAGE_ID_MAX,
  outcomeSchema,
  parseJson,
  recipientDsnList,
} from './schema-parts.ts';
import { DEFAULT_WIRE_VERSION, NEWEST_WIRE_VERSION, type WireVersion } from './wire-version.ts';

/** One delivery: the recipients of one message at one destination domain. */
export interface Delivery extends DsnParameters {
  /** The message's queue id. */
  id: string;
  pool: string;
  domain: string;
  /** Envelope sender; '' is the null sender <>. */
  from: string;
  rcpts: string[];
  body: BodyRef;
  receivedAt: number;
  /**
   * Which share of the domain's recipients this is, when the rate policy's
   * recipientsPerMessage split them (0..n-1); absent: the only one.
   */
  part?: number;
  /** See Envelope.bulk. */
  bulk?: boolean;
  /** The message's Message-ID (see Envelope.messageId), for logs and traces. */
  messageId?: string;
  /** See Envelope.submitter: the complaint guard holds and counts per submitter too. */
  submitter?: string;
}

/** A delivery waiting for its attempt. */
export interface QueueItem {
  delivery: Delivery;
  /** Attempts made before this one (0 for the first). */
  attempt: number;
  notBefore: number;
  /** The IP of the previous attempt, if any (to spread retries). */
  lastIp?: string;
  /** What the previous attempt was answered, per recipient (absent before the first). */
  lastReplies?: LastReply[];
}

/** A delivery released to the sender that owns `ip`. */
export interface Job {
  jobId: string;
  delivery: Delivery;
  attempt: number;
  ip: string;
  /** The rate policy the destination resolved to. */
  policy: string;
  /**
   * MAIL FROM for this delivery when the pool writes its own return path (one recipient,
   * a signed token); `delivery.from` stays the client's sender, for DSNs and events.
   */
  returnPath?: string;
  /** When the scheduler released the job (its clock): tells a late reply from a new one. */
  dispatchedAt?: number;
  /**
   * Concurrent connections the sender may hold for this (IP, destination), when adaptive
   * shaping learned fewer than the rate policy declares; absent: the policy's.
   */
  connections?: number;
}

/** What the sender reports of one job. */
export interface JobResult {
  job: Job;
  outcomes: RecipientOutcome[];
  startedAt: number;
  finishedAt: number;
  tls?: { version: string; cipher: string };
}

/** The fields of a Delivery: what a flat v1 record gives up to its nested delivery. */
const DELIVERY_FIELDS = [
  'id',
  'pool',
  'domain',
  'from',
  'rcpts',
  'body',
  'receivedAt',
  'part',
  'bulk',
  'messageId',
  'submitter',
  'dsn',
  'rcptDsn',
] as const satisfies readonly (keyof Delivery)[];

const deliveryProperties = {
  id: { type: 'string', minLength: 1 },
  pool: { type: 'string', minLength: 1 },
  domain: { type: 'string', minLength: 1 },
  from: { type: 'string', maxLength: 512 },
  rcpts: addressList,
  body: bodyRefSchema,
  receivedAt: { type: 'number' },
  part: { type: 'integer', minimum: 0, nullable: true },
  bulk: { type: 'boolean', nullable: true },
  messageId: { type: 'string', maxLength: MESSAGE_ID_MAX, nullable: true },
  submitter: { type: 'string', maxLength: 512, nullable: true },
  dsn: envelopeDsnSchema,
  rcptDsn: recipientDsnList,
} as const;
const deliveryRequired = ['id', 'pool', 'domain', 'from', 'rcpts', 'body', 'receivedAt'] as const;

const deliverySchema: JSONSchemaType<Delivery> = {
  type: 'object',
  properties: deliveryProperties,
  required: [...deliveryRequired],
  additionalProperties: true,
};

const itemProperties = {
  attempt: { type: 'integer', minimum: 0 },
  notBefore: { type: 'number' },
  lastIp: { type: 'string', nullable: true },
  lastReplies: { type: 'array', items: lastReplySchema, nullable: true },
} as const;

const jobProperties = {
  jobId: { type: 'string', minLength: 1 },
  attempt: { type: 'integer', minimum: 0 },
  ip: { type: 'string', minLength: 1 },
  policy: { type: 'string' },
  returnPath: { type: 'string', maxLength: 512, nullable: true },
  dispatchedAt: { type: 'number', nullable: true },
  connections: { type: 'integer', minimum: 1, nullable: true },
} as const;

/** Wire v1: the delivery's fields flat beside the item's own. */
type QueueItemV1 = { v: 1 } & Delivery & Omit<QueueItem, 'delivery'>;
type JobV1 = { v: 1 } & Delivery & Omit<Job, 'delivery'>;
/** Wire v2: the delivery nested, as in memory. */
type QueueItemV2 = { v: 2 } & QueueItem;
type JobV2 = { v: 2 } & Job;
type ResultOnWire<J> = Omit<JobResult, 'job'> & { v: J extends JobV1 ? 1 : 2; job: J };

const queueItemV1Schema: JSONSchemaType<QueueItemV1> = {
  type: 'object',
  properties: { v: { type: 'integer', const: 1 }, ...deliveryProperties, ...itemProperties },
  required: ['v', ...deliveryRequired, 'attempt', 'notBefore'],
  additionalProperties: true,
};

const queueItemV2Schema: JSONSchemaType<QueueItemV2> = {
  type: 'object',
  properties: { v: { type: 'integer', const: 2 }, delivery: deliverySchema, ...itemProperties },
  required: ['v', 'delivery', 'attempt', 'notBefore'],
  additionalProperties: true,
};

const jobV1Schema: JSONSchemaType<JobV1> = {
  type: 'object',
  properties: { v: { type: 'integer', const: 1 }, ...deliveryProperties, ...jobProperties },
  required: ['v', 'jobId', ...deliveryRequired, 'ip', 'policy', 'attempt'],
  additionalProperties: true,
};

const jobV2Schema: JSONSchemaType<JobV2> = {
  type: 'object',
  properties: { v: { type: 'integer', const: 2 }, delivery: deliverySchema, ...jobProperties },
  required: ['v', 'jobId', 'delivery', 'ip', 'policy', 'attempt'],
  additionalProperties: true,
};

function resultSchema(v: WireVersion, job: object) {
  return {
    type: 'object',
    properties: {
      v: { type: 'integer', const: v },
      job,
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
  } as const;
}

/** The delivery's fields taken out of a flat v1 record; the rest is the record's own. */
function splitFlat<R extends Delivery & { v: 1 }>(
  flat: R,
): { delivery: Delivery; rest: Omit<R, keyof Delivery | 'v'> } {
  const delivery: Record<string, unknown> = {};
  const rest = { ...flat } as Record<string, unknown>;
  delete rest.v;
  for (const field of DELIVERY_FIELDS) {
    if (field in rest) {
      if (rest[field] !== undefined) delivery[field] = rest[field];
      delete rest[field];
    }
  }
  return { delivery: delivery as unknown as Delivery, rest: rest as Omit<R, keyof Delivery | 'v'> };
}

function itemFromV1(wire: QueueItemV1): QueueItem {
  const { delivery, rest } = splitFlat(wire);
  return { delivery, ...rest };
}

function jobFromV1(wire: JobV1): Job {
  const { delivery, rest } = splitFlat(wire);
  return { ...rest, delivery };
}

function withoutV<T extends { v: number }>(wire: T): Omit<T, 'v'> {
  const { v: _v, ...rest } = wire;
  return rest;
}

function itemToWire(item: QueueItem, version: WireVersion): QueueItemV1 | QueueItemV2 {
  if (version === 2) return { v: 2, ...item };
  const { delivery, ...rest } = item;
  return { v: 1, ...delivery, ...rest };
}

function jobToWire(job: Job, version: WireVersion): JobV1 | JobV2 {
  if (version === 2) return { v: 2, ...job };
  const { delivery, ...rest } = job;
  return { v: 1, ...delivery, ...rest };
}

/** A codec whose encoder writes the wire version it is given (v1 when not told). */
export interface VersionedCodec<T> extends Codec<T> {
  encode(value: T, version?: WireVersion): Uint8Array;
}

/**
 * Decodes by the `v` a message declares: each known version against its own schema, a
 * newer one as a WireVersionError, anything else as a SchemaError.
 */
function versionedCodec<T, W1, W2>(
  what: string,
  v1: { schema: object; read: (wire: W1) => T },
  v2: { schema: object; read: (wire: W2) => T },
  write: (value: T, version: WireVersion) => W1 | W2,
): VersionedCodec<T> {
  const validateV1 = ajv.compile(v1.schema) as ValidateFunction<W1>;
  const validateV2 = ajv.compile(v2.schema) as ValidateFunction<W2>;
  return {
    encode: (value, version = DEFAULT_WIRE_VERSION) =>
      Buffer.from(JSON.stringify(write(value, version))),
    decode: (data) => {
      const parsed = parseJson(what, data);
      const v = (parsed as { v?: unknown } | null)?.v;
      if (v === 2) {
        if (!validateV2(parsed)) throw new SchemaError(what, issuesOf(validateV2.errors));
        return v2.read(parsed);
      }
      if (typeof v === 'number' && Number.isInteger(v) && v > NEWEST_WIRE_VERSION) {
        throw new WireVersionError(what, v, NEWEST_WIRE_VERSION);
      }
      if (!validateV1(parsed)) throw new SchemaError(what, issuesOf(validateV1.errors));
      return v1.read(parsed);
    },
  };
}

export const queueItemCodec = versionedCodec<QueueItem, QueueItemV1, QueueItemV2>(
  'queue item',
  { schema: queueItemV1Schema, read: itemFromV1 },
  { schema: queueItemV2Schema, read: withoutV },
  itemToWire,
);

export const jobCodec = versionedCodec<Job, JobV1, JobV2>(
  'job',
  { schema: jobV1Schema, read: jobFromV1 },
  { schema: jobV2Schema, read: withoutV },
  jobToWire,
);

export const resultCodec = versionedCodec<JobResult, ResultOnWire<JobV1>, ResultOnWire<JobV2>>(
  'job result',
  {
    schema: resultSchema(1, jobV1Schema),
    read: (wire) => ({ ...withoutV(wire), job: jobFromV1(wire.job) }),
  },
  {
    schema: resultSchema(2, jobV2Schema),
    read: (wire) => ({ ...withoutV(wire), job: withoutV(wire.job) }),
  },
  (result, version) =>
    version === 2
      ? { v: 2, ...result, job: jobToWire(result.job, 2) as JobV2 }
      : { v: 1, ...result, job: jobToWire(result.job, 1) as JobV1 },
);
