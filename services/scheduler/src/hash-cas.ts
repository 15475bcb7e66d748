import { redisScript } from '@hikyaku/core';

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
