/**
 * Schema pieces shared by the message schemas of messages.ts and delivery.ts, with the one
 * Ajv instance that compiles them and the JSON parsing every decoder starts with.
 */

import type { JSONSchemaType } from 'ajv';
import { Ajv } from 'ajv';
import { SchemaError } from '../errors.ts';
import type { LastReply, RecipientOutcome } from './messages.ts';

/** Longest ENVID (RFC 3461 §4.4) and ORCPT (§4.2), in characters as sent (xtext). */
export const ENVID_MAX = 100;
/** Longest Message-ID kept: RFC 5322 lines stop at 998 characters. */
export const MESSAGE_ID_MAX = 998;
export const ORCPT_MAX = 500;

export const bodyRefSchema = {
  type: 'object',
  properties: {
    store: { type: 'string', enum: ['stream', 'object'] },
    size: { type: 'integer', minimum: 0 },
    seq: { type: 'integer', minimum: 1, nullable: true },
  },
  required: ['store', 'size'],
  additionalProperties: false,
} as const;

export const addressList = {
  type: 'array',
  items: { type: 'string', maxLength: 512 },
  minItems: 1,
} as const;

export const envelopeDsnSchema = {
  type: 'object',
  properties: {
    ret: { type: 'string', enum: ['FULL', 'HDRS'], nullable: true },
    envid: { type: 'string', maxLength: ENVID_MAX, nullable: true },
  },
  additionalProperties: true,
  nullable: true,
} as const;

export const recipientDsnList = {
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

/** Longest reply text kept on a queue item: enough for any real reply, bounded for the stream. */
export const LAST_REPLY_TEXT_MAX = 1024;

export const lastReplySchema: JSONSchemaType<LastReply> = {
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

export const outcomeSchema: JSONSchemaType<RecipientOutcome> = {
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

export const ajv = new Ajv({ allErrors: true });

/** The JSON of a message, or a SchemaError naming what it should have been. */
export function parseJson(what: string, data: Uint8Array): unknown {
  // A view of the bytes, not Buffer.from(data): that copies every message before reading it.
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  return parseJsonText(what, text);
}

/** parseJson for JSON already held as a string (a header value): not turned into bytes first. */
export function parseJsonText(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SchemaError(what, [`not JSON: ${(err as Error).message}`]);
  }
}

/** Ajv's complaints as the issues of a SchemaError. */
export function issuesOf(
  errors: readonly { instancePath: string; message?: string }[] | null | undefined,
): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}
