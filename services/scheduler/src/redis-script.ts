/**
 * An atomic Redis script run by its SHA (EVALSHA), loaded on first use and again after
 * Redis restarts or flushes its script cache (NOSCRIPT). Every shared counter of the
 * scheduler changes inside one of these, so replicas never race on a limit.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface RedisScript {
  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
}

export function redisScript(lua: string): RedisScript {
  const sha = createHash('sha1').update(lua).digest('hex');
  return {
    async run(redis, keys, args) {
      try {
        return await redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
        return redis.eval(lua, keys.length, ...keys, ...args);
      }
    },
  };
}

/**
 * Compare-and-set of one hash field: writes `next` (or deletes the field when `next` is
 * '') only if the field still holds `expected` ('' for absent). Read-modify-write of a
 * JSON state computed by pure policy in TypeScript, made safe across replicas.
 */
export const HASH_CAS = redisScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 1
`);
