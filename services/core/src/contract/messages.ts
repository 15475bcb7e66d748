/**
 * The messages that travel between services, versioned (`v`) and validated where they
 * enter a process: a malformed message is a bug in another process, and it must be named,
 * not half-processed.
 */
import type { JSONSchemaType, ValidateFunction } from 'ajv';
import { SchemaError } from '../errors.ts';
import { jobCodec, queueItemCodec, resultCodec } from './delivery.ts';
import type { DeliveryEvent, QueueActionEvent } from './events.ts';
import {
  addressList,
  ajv,
  bodyRefSchema,
  envelopeDsnSchema,
  issuesOf,
  MESSAGE_ID_MAX,
  parseJson,
  parseJsonText,
  recipientDsnList,
} from './schema-parts.ts';
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

export { ENVID_MAX, LAST_REPLY_TEXT_MAX, MESSAGE_ID_MAX, ORCPT_MAX } from './schema-parts.ts';

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

export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(data: Uint8Array): T;
}

/** A codec that also reads its JSON from a string (see envelopeHeader). */
interface TextCodec<T> extends Codec<T> {
  decodeText(text: string): T;
}

function codec<T>(what: string, schema: JSONSchemaType<T>): TextCodec<T> {
  const validate: ValidateFunction<T> = ajv.compile(schema);
  const checked = (parsed: unknown): T => {
    if (!validate(parsed)) throw new SchemaError(what, issuesOf(validate.errors));
    return parsed;
  };
  return {
    encode: (value) => Buffer.from(JSON.stringify(value)),
    decode: (data) => checked(parseJson(what, data)),
    decodeText: (text) => checked(parseJsonText(what, text)),
  };
}

export const codecs = {
  envelope: codec('envelope', envelopeSchema),
  queueItem: queueItemCodec,
  job: jobCodec,
  result: resultCodec,
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

/**
 * The NATS header that carries a message's envelope on its body's own message, so that
 * body and envelope are stored in one write (wire version 2 ingress). A body message
 * without it is a body only: its envelope, if any, is in the envelopes stream.
 */
export const ENVELOPE_HEADER = 'Hikyaku-Envelope';

/** Characters a NATS header value may not hold as they are (it is printable ASCII). */
const NOT_HEADER_SAFE = /[^\x20-\x7e]/g;

/**
 * The envelope as one header value: the envelope codec's JSON with every character outside
 * printable ASCII written as a JSON escape, so the value is one line of ASCII (NATS headers
 * are) and decodes with the same codec. The body ref it carries has no `seq`: that is the
 * stream sequence of the message it rides on, known only once it is stored.
 */
export const envelopeHeader = {
  encode(envelope: Envelope): string {
    const json = codecs.envelope.encode(envelope);
    return Buffer.from(json.buffer, json.byteOffset, json.byteLength)
      .toString('utf8')
      .replace(
        NOT_HEADER_SAFE,
        (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`,
      );
  },
  decode(value: string): Envelope {
    // The value is JSON already: parsed as it is, not copied into bytes and back.
    return codecs.envelope.decodeText(value);
  },
};
