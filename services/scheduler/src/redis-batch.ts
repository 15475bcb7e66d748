/**
 * The Redis writes of one stage's step, sent as one script call: a result's day and
 * verdict counters, the retry index entry and the message's open groups; an envelope's
 * open groups and queued entries. One round trip per step, however many counters or
 * items it touches, instead of a command (or a MULTI of several) for each. The script is
 * atomic, which none of these writes needs but none minds, and every key of a pool
 * carries the pool's hash tag, so a batch of one pool's keys also runs on Redis Cluster.
 * A batch for keys of several pools is not allowed there (no caller builds one), nor is
 * the end of a purged body, whose keys are the bodies stream's (one for every pool): it
 * rides in the result's batch to save a round trip, Redis Cluster being unsupported.
 */

import { redisScript } from '@hikyaku/core';
import type { Redis } from 'ioredis';

// Every op is a code and a fixed number of arguments. A key is named once in KEYS; an
// expiry is set once per key and batch (the first op that names one wins).
//   c k field by ttlS          HINCRBY, EXPIRE (seconds)
//   z k score member ttlMs     ZADD NX, PEXPIRE (0: none)
//   r k before score member ttlMs   ZREMRANGEBYSCORE -inf..before, ZADD, PEXPIRE
//   o k ttlMs n member…        SADD of n members, PEXPIRE (the tracker's open groups)
//   f k member                 SREM; DEL when empty; the script returns the members left
//   g k ttlMs                  SET NX PX: when the key was there, every later c op is skipped
//   e k k2 seq id              unless an f op before it left members: ZADD seq to k (a body
//                              ended, for the purger), HGET/HDEL id in k2; returns its kept copy
const SCRIPT = redisScript(`
local i, left, expired, fresh, kept = 1, -1, {}, 1, -1
local function expire(k, cmd, ttl)
  if expired[k] or tonumber(ttl) <= 0 then return end
  expired[k] = true
  redis.call(cmd, KEYS[k], ttl)
end
while i <= #ARGV do
  local op, k = ARGV[i], tonumber(ARGV[i + 1])
  if op == 'c' then
    if fresh == 1 then
      redis.call('HINCRBY', KEYS[k], ARGV[i + 2], ARGV[i + 3])
      expire(k, 'EXPIRE', ARGV[i + 4])
    end
    i = i + 5
  elseif op == 'g' then
    if not redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[i + 2]) then fresh = 0 end
    i = i + 3
  elseif op == 'z' then
    redis.call('ZADD', KEYS[k], 'NX', ARGV[i + 2], ARGV[i + 3])
    expire(k, 'PEXPIRE', ARGV[i + 4])
    i = i + 5
  elseif op == 'r' then
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', ARGV[i + 2])
    redis.call('ZADD', KEYS[k], ARGV[i + 3], ARGV[i + 4])
    expire(k, 'PEXPIRE', ARGV[i + 5])
    i = i + 6
  elseif op == 'o' then
    -- In slices: unpack has a stack limit, and a message may have 100,000 groups.
    local n, first = tonumber(ARGV[i + 3]), i + 4
    for s = first, first + n - 1, 1000 do
      redis.call('SADD', KEYS[k], unpack(ARGV, s, math.min(s + 999, first + n - 1)))
    end
    expire(k, 'PEXPIRE', ARGV[i + 2])
    i = first + n
  elseif op == 'e' then
    if left <= 0 then
      local k2 = tonumber(ARGV[i + 2])
      redis.call('ZADD', KEYS[k], ARGV[i + 3], ARGV[i + 3])
      kept = tonumber(redis.call('HGET', KEYS[k2], ARGV[i + 4]) or '0')
      if kept > 0 then redis.call('HDEL', KEYS[k2], ARGV[i + 4]) end
    end
    i = i + 5
  elseif op == 'f' then
    redis.call('SREM', KEYS[k], ARGV[i + 2])
    left = redis.call('SCARD', KEYS[k])
    if left == 0 then redis.call('DEL', KEYS[k]) end
    i = i + 3
  else
    return redis.error_reply('unknown batch op ' .. tostring(op))
  end
end
return {left, fresh, kept}
`);

/** What a batch's run found: the members left after `finish`, and whether it counted. */
export interface BatchRun {
  /** Members left in the set of `finish` (-1 when the batch had none). */
  left: number;
  /** False when the batch's `countOnce` key was there already: its counts were skipped. */
  counted: boolean;
  /**
   * After `endBody`: the sequence of the body's kept copy, for the caller to remove (0 when
   * it has none); -1 when the body did not end (groups left) or the batch had no `endBody`.
   */
  keptCopy: number;
}

export class RedisBatch {
  private readonly keys: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly args: (string | number)[] = [];

  private keyIndex(key: string): number {
    let k = this.index.get(key);
    if (k === undefined) {
      this.keys.push(key);
      k = this.keys.length;
      this.index.set(key, k);
    }
    return k;
  }

  /** Adds `by` to a hash field; the key expires `ttlS` seconds after this batch. */
  count(key: string, field: string, by: number, ttlS: number): this {
    if (by !== 0) this.args.push('c', this.keyIndex(key), field, by, ttlS);
    return this;
  }

  /** Adds a member to a sorted set unless it is there; `ttlMs` 0 leaves its expiry alone. */
  addNew(key: string, score: number, member: string, ttlMs = 0): this {
    this.args.push('z', this.keyIndex(key), score, member, ttlMs);
    return this;
  }

  /** Sets a member's score after pruning every member scored at or before `prune`. */
  replaceDue(key: string, prune: number, score: number, member: string, ttlMs: number): this {
    this.args.push('r', this.keyIndex(key), prune, score, member, ttlMs);
    return this;
  }

  /** Adds members to a set that expires `ttlMs` after this batch. */
  open(key: string, members: readonly string[], ttlMs: number): this {
    if (members.length === 0) return this;
    this.args.push('o', this.keyIndex(key), ttlMs, members.length);
    // Not push(...members): a spread of 100,000 arguments overflows the stack.
    for (const m of members) this.args.push(m);
    return this;
  }

  /** Removes a member from a set, the set when it is empty; at most one per batch. */
  finish(key: string, member: string): this {
    this.args.push('f', this.keyIndex(key), member);
    return this;
  }

  /**
   * Unless a `finish` before it left members: records the body at `seq` as ended in
   * `endedKey` and takes its kept copy out of `copiedKey` (body-purge.ts).
   */
  endBody(endedKey: string, copiedKey: string, seq: number, messageId: string): this {
    this.args.push('e', this.keyIndex(endedKey), this.keyIndex(copiedKey), seq, messageId);
    return this;
  }

  /**
   * Counts added after this run only the first time a batch naming `key` runs within
   * `ttlMs`: the same step recorded twice counts once. Every other op runs either way.
   */
  countOnce(key: string, ttlMs: number): this {
    this.args.push('g', this.keyIndex(key), ttlMs);
    return this;
  }

  get empty(): boolean {
    return this.args.length === 0;
  }

  /** Runs the batch; the members left after `finish` (-1 when the batch had none). */
  async run(redis: Redis): Promise<number> {
    return (await this.runCounted(redis)).left;
  }

  /** Runs the batch; what `finish` left, and whether the counts ran (see `countOnce`). */
  async runCounted(redis: Redis): Promise<BatchRun> {
    if (this.empty) return { left: -1, counted: true, keptCopy: -1 };
    const [left, fresh, kept] = (await SCRIPT.run(redis, this.keys, this.args)) as number[];
    return { left: Number(left), counted: Number(fresh) === 1, keptCopy: Number(kept) };
  }
}
