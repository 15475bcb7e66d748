/**
 * The trace index: how a message is found again by its queue id, its Message-ID or a
 * recipient without reading every event. Message-IDs and addresses enter subjects only as
 * digests: a subject token cannot hold them, and the index then names no address.
 */
import { hash } from 'node:crypto';

export interface TraceIndexEntry {
  v: 1;
  /** Queue id of the message. */
  id: string;
  pool: string;
  /** Epoch ms of acceptance. */
  at: number;
}

/** The Message-ID token of an event whose message has no Message-ID (a digest is hex). */
export const NO_DIGEST = '_';

/** A queue id as the ingress makes them (NUID: letters and digits), safe as a subject token. */
export function isQueueId(value: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(value);
}

/** A Message-ID as it is compared: without angle brackets and surrounding space. */
export function normalMessageId(value: string): string {
  return value.trim().replace(/^<\s*/, '').replace(/\s*>$/, '');
}

/**
 * The subject token of a Message-ID or recipient: SHA-256 of the normal form, hex, cut to
 * 128 bits (collisions are beyond concern; a reader checks the events it finds anyway).
 */
export function traceDigest(kind: 'mid' | 'rcpt', value: string): string {
  const normal = kind === 'mid' ? normalMessageId(value) : value.trim().toLowerCase();
  // One-shot: no Hash object per digest (one or two are taken per stored event).
  return hash('sha256', normal, 'hex').slice(0, 32);
}
