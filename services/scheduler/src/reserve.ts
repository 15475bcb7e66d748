/**
 * Taking one dispatch slot from one IP for one site, atomically: the warm-up cap of the
 * day, the pacing interval, the per-IP sliding window and the pool-wide window are
 * checked and, only if all allow, counted together. Two replicas can never both take the
 * last slot. Time comes in as an argument (never Redis TIME), so tests can drive it.
 *
 * The window is a sliding log of dispatch times: at most `limit` in any `windowMs`. The
 * window is a minute plus some slack, because a receiver counts arrivals by its own
 * clock and a message dispatched at the end of one window may arrive in the next;
 * `interval` (window / limit) paces dispatches evenly instead of in bursts. Pacing is a
 * grid: a dispatch may come up to half an interval early for its slot, and one that comes
 * late (by less than an interval) does not move the grid, so the next slot stays where it
 * was and wake-up jitter neither wastes slots nor lowers the rate. After a longer gap the
 * grid starts again from now. The window stays the hard limit.
 */

import { REDIS_KEYS, redisScript } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import { SchedulerError } from './errors.ts';

/** The script's text, also run inside admission's turn check (turn-reserve.ts). */
export const RESERVE_LUA = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cap = tonumber(ARGV[8])
if cap >= 0 then
  local stored = redis.call('HGET', KEYS[4], ARGV[7]) or ''
  if stored ~= ARGV[9] then return {'stale', '0'} end
  local sent = tonumber(redis.call('HGET', KEYS[5], ARGV[7]) or '0')
  if sent >= cap then return {'cap', '0'} end
end
local interval = tonumber(ARGV[4])
local nextAt = tonumber(redis.call('GET', KEYS[2]) or '0')
local early = interval / 2
if nextAt - now > early then return {'rate', tostring(nextAt - early)} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'rate', tostring(tonumber(oldest[2]) + window)}
end
local poolLimit = tonumber(ARGV[6])
if poolLimit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
  if redis.call('ZCARD', KEYS[3]) >= poolLimit then
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return {'pool-rate', tostring(tonumber(oldest[2]) + window)}
  end
  redis.call('ZADD', KEYS[3], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[3], window * 2)
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window * 2)
local slot = nextAt
if now - nextAt >= interval then slot = now end
redis.call('SET', KEYS[2], tostring(slot + interval), 'PX', window * 2)
redis.call('HINCRBY', KEYS[5], ARGV[7], 1)
redis.call('PEXPIRE', KEYS[5], ARGV[11])
for i = 6, #KEYS do redis.call('ZREM', KEYS[i], ARGV[10]) end
return {'ok', '0'}
`;
const RESERVE = redisScript(RESERVE_LUA);

/** How long the per-day dispatch counters are kept (status of past days, warm-up ratio). */
const DAY_COUNTER_TTL_MS = 8 * 86_400_000;

export type ReserveResult =
  | { kind: 'ok' }
  /** The IP's warm-up cap for today is used up. */
  | { kind: 'cap' }
  /** The IP's warm-up state changed since it was read: read it again. */
  | { kind: 'stale' }
  /** No slot before `at` (per-IP window or pacing). */
  | { kind: 'rate'; at: number }
  /** The pool-wide window for the site is full until `at`. */
  | { kind: 'pool-rate'; at: number };

export interface ReserveInput {
  pool: string;
  ip: string;
  site: string;
  now: number;
  windowMs: number;
  /** Messages per window for this IP and site (whole, at least 1). */
  limit: number;
  /** Messages per window for the site across the pool; 0: none. */
  poolLimit: number;
  /** Today's cap of a warming IP, with the stored state it was computed from. */
  cap?: { limit: number; stored: string };
  dayKey: string;
  /** Unique per dispatch (log entry). */
  entry: string;
  /** The queue item's key: removed from `releaseKeys` (its lanes and queue index) on success. */
  item: string;
  releaseKeys: readonly string[];
}

/**
 * Appends the reserve script's keys and arguments for one reservation to `keys` and
 * `args`: the turn check's call carries them after its own, in the same two arrays.
 */
export function pushReserveCall(
  input: ReserveInput,
  keys: string[],
  args: (string | number)[],
): void {
  const { pool, ip, site } = input;
  keys.push(
    REDIS_KEYS.rateLog(pool, ip, site),
    REDIS_KEYS.pace(pool, ip, site),
    REDIS_KEYS.poolRateLog(pool, site),
    REDIS_KEYS.warmup(pool),
    REDIS_KEYS.sentOnDay(pool, input.dayKey),
  );
  for (const key of input.releaseKeys) keys.push(key);
  args.push(
    input.now,
    input.windowMs,
    input.limit,
    Math.floor(input.windowMs / input.limit),
    input.entry,
    input.poolLimit,
    ip,
    input.cap ? input.cap.limit : -1,
    input.cap ? input.cap.stored : '',
    input.item,
    DAY_COUNTER_TTL_MS,
  );
}

/** What the reserve script answered, as a result. */
export function readReserve(reply: readonly unknown[], from = 0): ReserveResult {
  const kind = reply[from];
  const at = reply[from + 1];
  if (kind === 'rate' || kind === 'pool-rate') return { kind, at: Number(at) };
  if (kind === 'ok' || kind === 'cap' || kind === 'stale') return { kind };
  throw new SchedulerError(
    'HIKYAKU_REDIS_REPLY',
    `reserve answered ${JSON.stringify(reply.slice(from))}`,
  );
}

export async function reserve(redis: Redis, input: ReserveInput): Promise<ReserveResult> {
  const keys: string[] = [];
  const args: (string | number)[] = [];
  pushReserveCall(input, keys, args);
  return readReserve((await RESERVE.run(redis, keys, args)) as unknown[]);
}
