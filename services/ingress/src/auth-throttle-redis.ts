/**
 * The AUTH failure count shared by every ingress replica: one Redis counter per client unit
 * (REDIS_KEYS.authFailures), incremented and given its expiry in one script, so failures
 * answered by different replicas at the same moment are all counted, and deleted by a
 * successful AUTH. Every failure pushes the expiry back to lockoutMs, so the count (and a
 * lockout) ends lockoutMs after the last failure, as in the in-process count.
 *
 * Every failure is also counted in this process. When Redis does not answer within
 * timeoutMs the answer comes from that count, and the miss is counted in
 * hikyaku_ingress_policy_lookup_errors_total{check="auth-throttle"}: during an outage a
 * client gets at most the limit per replica, and a replica keeps the failures it saw
 * before the outage. That count is not cleared by a success on another replica, so in an
 * outage it may lock a client out a little early; it never lets one in early.
 */

import { HikyakuError, type Logger, REDIS_KEYS, redisScript, withTimeout } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import {
  type AuthThrottle,
  type AuthThrottleOptions,
  createLocalAuthThrottle,
  failureOutcome,
  throttleKey,
} from './auth-throttle.ts';
import type { IngressMetrics } from './metrics.ts';

// KEYS[1] counter, ARGV[1] lockout in ms. Returns the count with this failure.
const FAIL = redisScript(`
local n = redis.call('INCR', KEYS[1])
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
    step: 'isLocked' | 'failure' | 'success',
    address: string,
    run: (key: string) => Promise<T>,
  ): Promise<T | undefined> {
    const unit = throttleKey(address);
    try {
      return await withTimeout(
        run(REDIS_KEYS.authFailures(unit)),
        timeoutMs,
        () => new AuthCountTimeoutError(timeoutMs),
      );
    } catch (err) {
      metrics.policyErrors.inc({ check: 'auth-throttle' });
      log.warn(
        { err, client: unit, step },
        'shared auth failure count unavailable; counting in this process',
      );
      return undefined;
    }
  }

  return {
    async isLocked(address) {
      const count = await shared('isLocked', address, (key) => redis.get(key));
      if (count === undefined) return local.isLocked(address);
      return Number(count ?? 0) >= options.maxFailures;
    },

    async failure(address) {
      const mine = local.failure(address);
      const count = await shared('failure', address, (key) =>
        FAIL.run(redis, [key], [options.lockoutMs]),
      );
      return count === undefined ? mine : failureOutcome(Number(count), options);
    },

    async success(address) {
      local.success(address);
      // Without an answer the shared count stays until it expires.
      await shared('success', address, (key) => redis.del(key));
    },
  };
}
