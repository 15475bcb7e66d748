/**
 * The AUTH attempt count shared by every ingress replica: one Redis counter per client unit
 * (REDIS_KEYS.authFailures). One script reads the count and, when it is under the limit,
 * increments it and pushes its expiry back to lockoutMs, so attempts arriving on
 * different replicas at the same moment are admitted one by one and never more than the
 * limit of them; a successful AUTH deletes the counter. The count (and a lockout) ends
 * lockoutMs after the last attempt counted, as in the in-process count.
 *
 * Every attempt Redis admits is also counted in this process. When Redis does not answer
 * within timeoutMs the answer comes from that count, and the miss is counted in
 * hikyaku_ingress_policy_lookup_errors_total{check="auth-throttle"}: during an outage a
 * client gets at most the limit per replica, and a replica keeps the attempts it saw
 * before the outage. That count is not cleared by a success on another replica, so in an
 * outage it may lock a client out a little early; it never lets one in early.
 */

import {
  HikyakuError,
  type Logger,
  REDIS_KEYS,
  type RedisHealth,
  redisScript,
  withTimeout,
} from '@hikyaku/core';
import type { Redis } from 'ioredis';
import {
  type AuthThrottle,
  type AuthThrottleOptions,
  createLocalAuthThrottle,
  failureOutcome,
  throttleKey,
} from './auth-throttle.ts';
import type { IngressMetrics } from './metrics.ts';

// KEYS[1] counter, ARGV[1] lockout in ms, ARGV[2] limit. Returns the count with this
// attempt, or 0 when the limit is reached (the attempt is not counted).
const ATTEMPT = redisScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then return 0 end
n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
`);

export class AuthCountTimeoutError extends HikyakuError {
  constructor(ms: number) {
    super('HIKYAKU_AUTH_COUNT_TIMEOUT', `the shared AUTH failure count did not answer in ${ms} ms`);
    this.name = 'AuthCountTimeoutError';
  }
}

export function createSharedAuthThrottle(deps: {
  redis: Redis;
  /** While Redis is known to be unreachable the count is this process' own at once. */
  health?: RedisHealth;
  options: AuthThrottleOptions;
  /** HIKYAKU_REDIS_TIMEOUT_MS: how long an AUTH command may wait for the shared count. */
  timeoutMs: number;
  metrics: IngressMetrics;
  log: Logger;
  now?: () => number;
}): AuthThrottle {
  const { redis, options, timeoutMs, metrics, log } = deps;
  const local = createLocalAuthThrottle(options, deps.now);

  /** The answer of Redis, or undefined when there is none in time. */
  async function shared<T>(
    step: 'attempt' | 'success',
    address: string,
    run: (key: string) => Promise<T>,
  ): Promise<T | undefined> {
    const unit = throttleKey(address);
    if (deps.health && !deps.health.available()) {
      metrics.policyErrors.inc({ check: 'auth-throttle' });
      return undefined;
    }
    try {
      return await withTimeout(
        run(REDIS_KEYS.authFailures(unit)),
        timeoutMs,
        () => new AuthCountTimeoutError(timeoutMs),
      );
    } catch (err) {
      deps.health?.failed();
      metrics.policyErrors.inc({ check: 'auth-throttle' });
      log.warn(
        { err, client: unit, step },
        'shared auth failure count unavailable; counting in this process',
      );
      return undefined;
    }
  }

  return {
    async attempt(address) {
      const count = await shared('attempt', address, (key) =>
        ATTEMPT.run(redis, [key], [options.lockoutMs, options.maxFailures]),
      );
      if (count === undefined) return local.attempt(address);
      const n = Number(count);
      if (n === 0) return { admitted: false };
      // Kept for an outage; the shared count decides while Redis answers.
      local.attempt(address);
      return { admitted: true, ifFailed: failureOutcome(n, options) };
    },

    async success(address) {
      local.success(address);
      // Without an answer the shared count stays until it expires.
      await shared('success', address, (key) => redis.del(key));
    },
  };
}
