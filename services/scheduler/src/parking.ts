/**
 * Parking: where a queue item waits when it may not leave yet, without being held in this
 * process. The item itself stays in JetStream (unacknowledged, handed back with a delay);
 * Redis keeps its turn in a lane, a sorted set of item keys scored by the time each may
 * try again. Turns in a lane are spaced by the lane's capacity, so a backlog of 100,000
 * items for a throttled destination comes back a few at a time, at the pace it can be
 * sent, instead of all at once when the pause ends (which would hold up every other
 * destination behind one long burst of redeliveries).
 *
 * An item that wakes before its turn (JetStream delays are capped, and a test clock may
 * jump) keeps its turn and sleeps again; an item that gets its turn and still cannot
 * leave takes a new turn at the end of the lane, unless it missed a slot by less than the
 * lane's spacing (timer jitter), in which case it keeps its place at the front. A new item goes straight to the end of a
 * lane that has a backlog, so a destination's mail leaves in order. Turns left behind by
 * items that went away (a crash between dispatch and clean-up) are dropped once stale.
 *
 * When a site's spacing shrinks (its rate was raised, or IPs were added), the next turn
 * check closes the lane's planned turns up around its head, so a backlog planned at the old
 * pace leaves at the new one once its items wake (within HIKYAKU_SCHEDULER_MAX_PARK_MS).
 * Warm-up lanes are planned for the next day under one version of the pool; when the pool
 * changes (a higher cap today, overflow switched to spill) they are dropped, so their items
 * try again when they wake and park anew only if they still must.
 *
 * Lanes: "site:<site>" for rates and throttling; "cap:<ip>" for items waiting for their
 * home IP's next warm-up day (overflow defer); "cap:*" when every IP's cap is used up.
 * Beside the lanes, an index per rate policy (score = receivedAt) gives queue depth and
 * the age of the oldest waiting item for metrics.
 */

import { REDIS_KEYS, redisScript } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import type { RedisBatch } from './redis-batch.ts';
import {
  pushReserveCall,
  RESERVE_LUA,
  type ReserveInput,
  type ReserveResult,
  readReserve,
} from './reserve.ts';

// KEYS: the item's lanes (site lane first), then its policy's index, then the site lane's
// planned spacing, then for each further lane (warm-up lanes) the pool plan it was planned
// under. A new item (no turn held) finding others waiting in the site lane is queued
// behind them in the same call. When the site's spacing shrank since the lane was planned
// (its rate went up, or IPs were added), the lane's turns are first closed up around its
// head, so a backlog planned at the old pace leaves at the new one; a larger spacing needs
// nothing, as the rate window still holds every dispatch back. A warm-up lane planned
// under another version of the pool is dropped: its turns wait for a day the new schedule
// or overflow may not make anyone wait for, so its items try again and park anew if
// they must. An item that may try to leave next needs its IPs' throttle states: when
// one more key (the throttle hash) and fields (ARGV 9 on) are given, they are read in
// the same call, so admission asks Redis once before its reservation.
/** The turn check's text, also the first half of TURN_RESERVE. */
const CHECK_LUA = `
local lanes = tonumber(ARGV[7])
local function states()
  if #KEYS < lanes * 2 + 2 or #ARGV < 9 then return {} end
  return redis.call('HMGET', KEYS[lanes * 2 + 2], unpack(ARGV, 9))
end
for i = 1, lanes do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[2]) end
for i = 2, lanes do
  local planKey = KEYS[lanes + 1 + i]
  local stored = redis.call('GET', planKey)
  if stored ~= ARGV[8] then
    if stored then redis.call('DEL', KEYS[i]) end
    redis.call('SET', planKey, ARGV[8], 'PX', ARGV[6])
  end
end
local spacingKey = KEYS[lanes + 2]
local spacing = tonumber(ARGV[4])
local planned = tonumber(redis.call('GET', spacingKey) or '0')
if planned > 0 and spacing < planned * 0.9 then
  -- Turns already due stay; later ones close up towards the first of them (or now).
  local base = tonumber(ARGV[3])
  local turns = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], '+inf', 'WITHSCORES')
  if #turns > 0 then base = math.max(base, tonumber(turns[2])) end
  local ratio = spacing / planned
  local batch = {}
  for i = 1, #turns, 2 do
    batch[#batch + 1] = math.ceil(base + (tonumber(turns[i + 1]) - base) * ratio)
    batch[#batch + 1] = turns[i]
    if #batch >= 2000 then
      redis.call('ZADD', KEYS[1], unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
end
if planned ~= spacing then redis.call('SET', spacingKey, ARGV[4], 'PX', ARGV[6]) end
for i = 1, lanes do
  local own = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if own then return {'own', own, i, states()} end
end
if redis.call('ZCARD', KEYS[1]) == 0 then return {'free', '0', 0, states()} end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local ticket = math.ceil(math.max(tonumber(ARGV[3]), tonumber(last[2]) + tonumber(ARGV[4])))
redis.call('ZADD', KEYS[1], ticket, ARGV[1])
redis.call('ZADD', KEYS[lanes + 1], 'NX', ARGV[5], ARGV[1])
return {'queued', tostring(ticket), 1}
`;
const CHECK = redisScript(CHECK_LUA);

// The turn check and the home IP's reservation in one script call, so mail that may leave
// at once costs admission one round trip instead of two. The two scripts run as they are
// (each as a Lua function over its own slice of KEYS and ARGV); what joins them is the
// condition under which admission would reserve at all after the turn check:
// - the turn lets the item try now ('free', or its own turn is due), and
// - the home IP's throttle state, read by the turn check, is the one the reservation's
//   rate was computed from (`expected`, '' for none): the rate follows from that state
//   and the time alone, so the reservation is the one admission would ask for next.
// When either fails, only the turn check ran and admission goes on as before. A screen
// (the item's recipients on the suppression list) may come first: when any of them is
// there, nothing else runs and the entries come back, for the envelope stage to plan its
// items again without them. Every key carries the pool's hash tag: the call touches one
// slot.
//
// KEYS: the turn check's, the suppression list when screening, the reservation's if any.
// ARGV: the number of the turn check's keys, the number of its arguments, the number of
// addresses screened, `expected`, the turn check's arguments, the addresses, then the
// reservation's arguments.
const TURN_RESERVE = redisScript(`
local function turn(KEYS, ARGV)
${CHECK_LUA}
end
local function reserve(KEYS, ARGV)
${RESERVE_LUA}
end
local nk, na, ns = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ns > 0 then
  local found = redis.call('HMGET', KEYS[nk + 1], unpack(ARGV, na + 5, na + 4 + ns))
  for i = 1, ns do
    if found[i] then return {'suppressed', '0', 0, found} end
  end
end
local tk, ta, rk, ra = {}, {}, {}, {}
for i = 1, nk do tk[i] = KEYS[i] end
for i = 1, na do ta[i] = ARGV[i + 4] end
local first = nk + 1
if ns > 0 then first = first + 1 end
for i = first, #KEYS do rk[#rk + 1] = KEYS[i] end
for i = na + 5 + ns, #ARGV do ra[#ra + 1] = ARGV[i] end
local t = turn(tk, ta)
if #rk == 0 or t[1] == 'queued' then return t end
if t[1] == 'own' and tonumber(t[2]) > tonumber(ta[3]) then return t end
-- HMGET gives false for a field that is not there: no state, as '' stands for.
if (t[4][1] or '') ~= ARGV[4] then return t end
local r = reserve(rk, ra)
return {t[1], t[2], t[3], t[4], r[1], r[2]}
`);

const PARK = redisScript(`
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
local ticket = math.max(tonumber(ARGV[2]), tonumber(ARGV[3]))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if ARGV[6] ~= 'front' and last[2] then
  ticket = math.max(ticket, tonumber(last[2]) + tonumber(ARGV[4]))
end
-- Whole milliseconds: a score printed with an exponent would not read back.
ticket = math.ceil(ticket)
redis.call('ZADD', KEYS[1], ticket, ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[1])
return tostring(ticket)
`);

const FORGET = redisScript(`
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 0
`);

/** How long a lane's planned spacing (or plan) is remembered after it last changed. */
const LANE_SPACING_TTL_MS = 30 * 86_400_000;

/** A turn this far in the past is taken to be left behind by an item that went away. */
export const STALE_TURN_MS = 10 * 60_000;

export type Turn =
  /** The item holds a turn at `at` in `lane`. */
  | { kind: 'own'; at: number; lane: string; read: (string | null)[]; reserved?: ReserveResult }
  /** The item held no turn and others were waiting: it was queued behind them until `at`. */
  | { kind: 'queued'; at: number }
  /** No turn held and nobody waiting: the item may try to leave now. */
  | { kind: 'free'; read: (string | null)[]; reserved?: ReserveResult }
  /** A screened recipient is on the suppression list: nothing was checked or written. */
  | { kind: 'suppressed'; found: (string | null)[] };

export interface Parking {
  /**
   * The item's turn in `lanes` (site lane first); without one, it is queued at the end of
   * the site lane if anything waits there (`spacing` after the last turn).
   */
  turn(input: {
    pool: string;
    item: string;
    policy: string;
    receivedAt: number;
    lanes: readonly string[];
    now: number;
    spacing: number;
    /** The version of the pool deciding now (its generation): warm-up lanes planned under
     * another one are dropped. */
    plan: string;
    /** Hash fields read along, returned as `read` when the item may try to leave. */
    read?: { key: string; fields: readonly string[] };
    /**
     * A reservation made in the same call when the item may try to leave now and the
     * first field read holds `expected` ('' for none), the value `reserve` was computed
     * from; its result comes back as `reserved`. Otherwise nothing is reserved.
     */
    reserve?: { input: ReserveInput; expected: string };
    /** Suppression list fields read first: when any is there, the answer is 'suppressed'. */
    screen?: { key: string; fields: readonly string[] };
  }): Promise<Turn>;
  /**
   * Gives the item a turn at the end of `lane`, not before `earliest`, `spacing` after the
   * last turn there; drops any turn it held in `otherLanes`. Returns the turn's time.
   */
  park(input: {
    pool: string;
    item: string;
    policy: string;
    receivedAt: number;
    lane: string;
    otherLanes: readonly string[];
    now: number;
    earliest: number;
    spacing: number;
    /** Keep the item's place at the front (it just missed a slot): its turn is `earliest`. */
    front?: boolean;
  }): Promise<number>;
  /** Counts an item as waiting for its policy (a retry published for later). */
  track(pool: string, item: string, policy: string, receivedAt: number): Promise<void>;
  /** The same, added to a stage's batch of Redis writes. */
  trackIn(batch: RedisBatch, pool: string, item: string, policy: string, receivedAt: number): void;
  /** Forgets the item everywhere (it expired or was dropped). */
  forget(pool: string, item: string, policy: string, lanes: readonly string[]): Promise<void>;
  /** Keys an item's dispatch removes it from: its lanes and its policy's index. */
  releaseKeys(pool: string, policy: string, lanes: readonly string[]): string[];
}

export function createParking(redis: Redis): Parking {
  return {
    async turn(input) {
      const { pool, lanes } = input;
      const read = input.read && input.read.fields.length > 0 ? input.read : undefined;
      const screen = input.screen && input.screen.fields.length > 0 ? input.screen : undefined;
      const reserve = read ? input.reserve : undefined;
      const joined = screen !== undefined || reserve !== undefined;
      // Keys and arguments go into one array each, built once: this runs for every item
      // that may leave, and each array spread here was garbage per message.
      const keys: string[] = [];
      for (const lane of lanes) keys.push(REDIS_KEYS.lane(pool, lane));
      keys.push(
        REDIS_KEYS.queued(pool, input.policy),
        REDIS_KEYS.laneSpacing(pool, lanes[0] as string),
      );
      for (let i = 1; i < lanes.length; i++) {
        keys.push(REDIS_KEYS.lanePlan(pool, lanes[i] as string));
      }
      if (read) keys.push(read.key);
      const args: (string | number)[] = [];
      // TURN_RESERVE's four leading arguments; the second is known once the turn check's are in.
      if (joined) args.push(keys.length, 0, screen?.fields.length ?? 0, reserve?.expected ?? '');
      args.push(
        input.item,
        input.now - STALE_TURN_MS,
        input.now,
        // Whole ms, as stored: a fraction would read back as a different spacing each time.
        Math.ceil(input.spacing),
        input.receivedAt,
        LANE_SPACING_TTL_MS,
        lanes.length,
        input.plan,
      );
      if (read) for (const field of read.fields) args.push(field);
      if (joined) {
        args[1] = args.length - 4;
        if (screen) {
          keys.push(screen.key);
          for (const field of screen.fields) args.push(field);
        }
        if (reserve) pushReserveCall(reserve.input, keys, args);
      }
      const reply = (await (joined ? TURN_RESERVE : CHECK).run(redis, keys, args)) as unknown[];
      const kind = reply[0] as string;
      const found = (reply[3] as (string | null)[] | undefined) ?? [];
      if (kind === 'suppressed') return { kind, found };
      if (kind === 'queued') return { kind, at: Number(reply[1]) };
      // The reservation's answer follows the turn check's when it was made.
      const reserved = reply.length > 4 ? readReserve(reply, 4) : undefined;
      if (kind === 'own') {
        const own: Turn = {
          kind,
          at: Number(reply[1]),
          lane: lanes[Number(reply[2]) - 1] as string,
          read: found,
        };
        if (reserved) own.reserved = reserved;
        return own;
      }
      const free: Turn = { kind: 'free', read: found };
      if (reserved) free.reserved = reserved;
      return free;
    },

    async park(input) {
      const keys = [
        REDIS_KEYS.lane(input.pool, input.lane),
        REDIS_KEYS.queued(input.pool, input.policy),
        ...input.otherLanes
          .filter((l) => l !== input.lane)
          .map((l) => REDIS_KEYS.lane(input.pool, l)),
      ];
      const ticket = await PARK.run(redis, keys, [
        input.item,
        input.now,
        input.earliest,
        input.spacing,
        input.receivedAt,
        input.front ? 'front' : 'end',
      ]);
      return Number(ticket);
    },

    async track(pool, item, policy, receivedAt) {
      await redis.zadd(REDIS_KEYS.queued(pool, policy), 'NX', receivedAt, item);
    },

    trackIn(batch, pool, item, policy, receivedAt) {
      batch.addNew(REDIS_KEYS.queued(pool, policy), receivedAt, item);
    },

    async forget(pool, item, policy, lanes) {
      await FORGET.run(redis, this.releaseKeys(pool, policy, lanes), [item]);
    },

    releaseKeys(pool, policy, lanes) {
      return [...lanes.map((l) => REDIS_KEYS.lane(pool, l)), REDIS_KEYS.queued(pool, policy)];
    },
  };
}
