/**
 * The pools' feedback addresses: the return path tokens (b+<token>@<bounce domain>) and the
 * complaint address. Mail to them is taken from anyone, since bounces and feedback-loop
 * reports come from every mail server on the Internet, but only for those addresses: any
 * other recipient still needs a pool that lets the client relay. A feedback transaction has
 * one recipient (a report is about one return path); the report is size-limited by the
 * pool, rate-limited per client address, and stored as the envelopes are (body first, then
 * a feedback envelope) before the client is told 250; the scheduler reads it.
 */

import {
  type BodyStore,
  type CompiledPool,
  codecs,
  type FeedbackEnvelope,
  MSG_IDS,
  type NatsHandles,
  parseReturnPath,
  REDIS_KEYS,
  redisScript,
  StoreUnavailableError,
  SUBJECTS,
  withTimeout,
} from '@hikyaku/core';
import type { Redis } from 'ioredis';

export type FeedbackKind = 'bounce' | 'complaint';

export interface FeedbackTarget {
  pool: CompiledPool;
  kind: FeedbackKind;
  /** The address as it will be stored (the complaint address in its configured case). */
  address: string;
}

/** The feedback address `address` is, among the pools', if any. */
export function feedbackTarget(
  pools: readonly CompiledPool[],
  address: string,
): FeedbackTarget | undefined {
  const lower = address.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at < 0) return undefined;
  const domain = lower.slice(at + 1).replace(/\.$/, '');
  for (const pool of pools) {
    const feedback = pool.feedback;
    if (!feedback) continue;
    if (lower === feedback.complaintAddress) {
      return { pool, kind: 'complaint', address: feedback.complaintAddress };
    }
    if (domain === feedback.bounceDomain && parseReturnPath(address.trim())) {
      return { pool, kind: 'bounce', address: address.trim() };
    }
  }
  return undefined;
}

const WINDOW_MS = 60_000;

// KEYS[1] counter, ARGV[1] limit, ARGV[2] expiry in ms. Returns 1 when taken, 0 when over.
const TAKE = redisScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
`);

export interface FeedbackIntake {
  /** Takes one report from a client address's allowance for the minute of `now`. */
  take(pool: CompiledPool, client: string, now: number): Promise<boolean>;
  /** Stores a report; resolves once JetStream acknowledged body and feedback envelope. */
  store(envelope: Omit<FeedbackEnvelope, 'v' | 'body'>, raw: Buffer): Promise<void>;
}

export function createFeedbackIntake(deps: {
  nats: NatsHandles;
  bodies: BodyStore;
  redis: Redis;
  timeoutMs: number;
}): FeedbackIntake {
  const { nats, bodies, redis, timeoutMs } = deps;
  const late = (what: string) => () =>
    new StoreUnavailableError(`${what} not acknowledged within ${timeoutMs} ms`);
  return {
    async take(pool, client, now) {
      const limit = pool.feedback?.reportsPerMinute ?? 0;
      const key = REDIS_KEYS.feedbackMinute(pool.key, client, Math.floor(now / WINDOW_MS));
      return (await TAKE.run(redis, [key], [limit, 2 * WINDOW_MS])) === 1;
    },

    async store(envelope, raw) {
      try {
        const ref = await withTimeout(bodies.put(envelope.id, raw), timeoutMs, late('report body'));
        const full: FeedbackEnvelope = { v: 1, ...envelope, body: ref };
        await withTimeout(
          nats.js.publish(SUBJECTS.feedback(envelope.pool), codecs.feedback.encode(full), {
            msgID: MSG_IDS.feedback(envelope.id),
          }),
          timeoutMs,
          late('feedback envelope'),
        );
      } catch (err) {
        if (err instanceof StoreUnavailableError) throw err;
        throw new StoreUnavailableError(`JetStream did not store report ${envelope.id}`, {
          cause: err,
        });
      }
    },
  };
}
