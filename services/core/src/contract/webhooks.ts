/**
 * What a webhook receiver sees: the batch it is POSTed, the headers, and how the signature
 * is made. Receivers written against this keep working across relay versions: fields are
 * only ever added.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { DeliveryEvent, EventType } from './events.ts';

/** Event types a webhook may subscribe to (the relay's internal steps are not offered). */
export const WEBHOOK_EVENT_TYPES = [
  'delivered',
  'deferred',
  'bounced',
  'expired',
  'suppressed',
  'complained',
] as const satisfies readonly EventType[];

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const WEBHOOK_HEADERS = {
  /** Unix time in seconds when this attempt was signed; a new one on every retry. */
  timestamp: 'hikyaku-timestamp',
  /** `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under the webhook's secret. */
  signature: 'hikyaku-signature',
  /** The batch's id: the same on every retry of one batch. */
  batch: 'hikyaku-batch',
  /** The webhook's name in the pool. */
  webhook: 'hikyaku-webhook',
} as const;

/** One event as a receiver gets it: the delivery event plus an id to de-duplicate by. */
export type WebhookEvent = DeliveryEvent & {
  /** Stable for one event however often it is delivered (a digest of the stored event). */
  eventId: string;
};

export interface WebhookBatch {
  v: 1;
  /** Same as the hikyaku-batch header. */
  batch: string;
  pool: string;
  webhook: string;
  events: WebhookEvent[];
}

/** The id of a stored event: a digest of its bytes, so a re-published copy has the same. */
export function webhookEventId(stored: Uint8Array): string {
  return createHash('sha256').update(stored).digest('base64url').slice(0, 22);
}

/** The hikyaku-signature header's value for a body signed at `timestamp` (Unix seconds). */
export function webhookSignature(secret: string, timestamp: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return `v1=${mac.digest('hex')}`;
}

/**
 * What a receiver does: the signature matches the body and timestamp, and the timestamp is
 * within `toleranceS` of `nowS`. Returns why not, or undefined when the request is good.
 */
export function verifyWebhookSignature(options: {
  secret: string;
  body: string | Buffer;
  timestamp: string | undefined;
  signature: string | undefined;
  nowS: number;
  toleranceS: number;
}): string | undefined {
  const timestamp = Number(options.timestamp);
  if (!options.timestamp || !Number.isInteger(timestamp)) return 'no timestamp';
  if (Math.abs(options.nowS - timestamp) > options.toleranceS) return 'timestamp out of tolerance';
  const expected = Buffer.from(webhookSignature(options.secret, timestamp, options.body));
  const given = Buffer.from(options.signature ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return 'signature mismatch';
  }
  return undefined;
}
