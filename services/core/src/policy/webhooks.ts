/**
 * Webhooks as the data plane runs them: settings resolved from the spec, and the pure
 * parts of delivery — when the next try is due, when an event is too old to try again,
 * and how events are cut into batches.
 */
import type { WebhookEventType } from '../contract/webhooks.ts';
import { WEBHOOK_EVENT_TYPES } from '../contract/webhooks.ts';
import type { WebhookSpec } from '../pool/spec.ts';
import { parseDuration } from './duration.ts';
import { BadWebhookError } from './errors.ts';

export const WEBHOOK_DEFAULTS = {
  maxBatchEvents: 100,
  maxBatchBytes: 256 * 1024,
  maxBatchWaitMs: 2000,
  maxAgeMs: 24 * 3600_000,
  /** First retry after 1 s, doubling up to 5 min. */
  firstBackoffMs: 1000,
  maxBackoffMs: 5 * 60_000,
} as const;

/** The events stream keeps 7 days: an event older than that is gone anyway. */
const MAX_AGE_LIMIT_MS = 7 * 24 * 3600_000;

export interface CompiledWebhook {
  name: string;
  url: string;
  events: WebhookEventType[];
  /**
   * Where the signing secret is read, as mounted in the sender pods (or a local file). The
   * secret itself is not in the compiled pool: the file is read before each batch, so a
   * rotated Secret is used without a restart.
   */
  secretFile: string;
  maxBatchEvents: number;
  maxBatchBytes: number;
  maxBatchWaitMs: number;
  maxAgeMs: number;
}

/** Where webhook Secrets are mounted in sender pods: <root>/<secret name>/<key>. */
export const WEBHOOK_SECRET_ROOT = '/etc/hikyaku/webhooks';

/**
 * Resolves one webhook; throws BadWebhookError naming the field. `fileDir`: local mode's
 * pool file directory, against which a relative secretFile is read.
 */
export function resolveWebhook(
  spec: WebhookSpec,
  index: number,
  options: { secretRoot?: string; fileDir?: string } = {},
): CompiledWebhook {
  const field = `webhooks[${index}]`;
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw new BadWebhookError(`${field}.url ${JSON.stringify(spec.url)} is not a URL`);
  }
  if (url.protocol !== 'https:') {
    throw new BadWebhookError(`${field}.url must be an https:// URL, got ${url.protocol}`);
  }
  if (spec.events.length === 0) throw new BadWebhookError(`${field}.events is empty`);
  for (const type of spec.events) {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type)) {
      throw new BadWebhookError(
        `${field}.events: ${JSON.stringify(type)} is not one of ${WEBHOOK_EVENT_TYPES.join(', ')}`,
      );
    }
  }
  const ref = spec.secretKeyRef;
  let secretFile: string;
  if (spec.secretFile !== undefined) {
    const dir = options.fileDir;
    secretFile =
      dir === undefined || spec.secretFile.startsWith('/')
        ? spec.secretFile
        : `${dir}/${spec.secretFile}`;
  } else if (ref) {
    secretFile = `${options.secretRoot ?? WEBHOOK_SECRET_ROOT}/${ref.name}/${ref.key}`;
  } else {
    throw new BadWebhookError(`${field} needs secretKeyRef (or secretFile in local mode)`);
  }
  const maxBatchWaitMs = spec.maxBatchWait
    ? parseDuration(spec.maxBatchWait, `${field}.maxBatchWait`)
    : WEBHOOK_DEFAULTS.maxBatchWaitMs;
  if (maxBatchWaitMs < 1000 || maxBatchWaitMs > 60_000) {
    throw new BadWebhookError(`${field}.maxBatchWait must be between 1s and 1m`);
  }
  const maxAgeMs = spec.maxAge
    ? parseDuration(spec.maxAge, `${field}.maxAge`)
    : WEBHOOK_DEFAULTS.maxAgeMs;
  if (maxAgeMs < 1000 || maxAgeMs > MAX_AGE_LIMIT_MS) {
    throw new BadWebhookError(`${field}.maxAge must be between 1s and 7d (the events' retention)`);
  }
  return {
    name: spec.name,
    url: url.toString(),
    events: [...new Set(spec.events)] as WebhookEventType[],
    secretFile,
    maxBatchEvents: spec.maxBatchEvents ?? WEBHOOK_DEFAULTS.maxBatchEvents,
    maxBatchBytes: spec.maxBatchBytes ?? WEBHOOK_DEFAULTS.maxBatchBytes,
    maxBatchWaitMs,
    maxAgeMs,
  };
}

/** Delay before try `failures + 1` of a batch that failed `failures` times (≥ 1). */
export function webhookBackoffMs(
  failures: number,
  limits: { firstMs: number; maxMs: number } = {
    firstMs: WEBHOOK_DEFAULTS.firstBackoffMs,
    maxMs: WEBHOOK_DEFAULTS.maxBackoffMs,
  },
): number {
  const exponent = Math.max(0, Math.min(failures - 1, 30));
  return Math.min(limits.maxMs, limits.firstMs * 2 ** exponent);
}

/** Whether an event stored at `storedAt` is past the webhook's maximum age at `now`. */
export function webhookEventExpired(storedAt: number, now: number, maxAgeMs: number): boolean {
  return now - storedAt > maxAgeMs;
}

/**
 * Cuts events (their encoded sizes given) into consecutive batches of at most maxEvents
 * and, counting `overhead` bytes for the envelope, at most maxBytes; an event too large
 * for any batch goes alone. Returns the index ranges [start, end).
 */
export function cutBatches(
  sizes: readonly number[],
  limits: { maxEvents: number; maxBytes: number; overhead: number },
): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  let bytes = limits.overhead;
  for (let i = 0; i < sizes.length; i++) {
    const size = (sizes[i] as number) + 1;
    const full = i - start >= limits.maxEvents || (i > start && bytes + size > limits.maxBytes);
    if (full) {
      ranges.push([start, i]);
      start = i;
      bytes = limits.overhead;
    }
    bytes += size;
  }
  if (start < sizes.length) ranges.push([start, sizes.length]);
  return ranges;
}
