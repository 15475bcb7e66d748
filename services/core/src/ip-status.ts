/**
 * Where each IP of a pool stands: its warm-up day, today's cap, what it sent today and
 * whether a destination throttled it. Read from exactly the Redis keys the scheduler
 * enforces (REDIS_KEYS.warmup, sentOnDay, outcomesOnDay, throttle) and computed with the
 * same pure policy (warmupToday, throttleStatus), so the RelayPool status rows show the day
 * and cap the scheduler applies, including a new day the scheduler has not reached yet.
 */
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from './contract/redis-keys.ts';
import {
  isThrottleState,
  learnedConnections,
  learnedRate,
  type ThrottleReason,
  type ThrottleState,
  throttleStatus,
} from './policy/throttle.ts';
import {
  calendarDayKey,
  type WarmupState,
  type WarmupToday,
  warmupToday,
} from './policy/warmup.ts';
import type { CompiledPool } from './pool/compile.ts';

export type IpState = 'Active' | 'Warming' | 'Throttled' | 'Paused';

/** A destination (site) that takes less from an IP than its rate policy declares. */
export interface ThrottledSite {
  /** The site: a named rate policy, or "default:<domain>". */
  site: string;
  state: 'Paused' | 'Throttled';
  /** What the last signal was about: the rate, or the number of connections. */
  reason: ThrottleReason;
  /** Messages a minute the IP sends to the site now (learned, probing upward). */
  messagesPerMinute: number;
  /** Messages a minute at which the site last began to refuse. */
  ceiling: number;
  /** Concurrent connections learned, when fewer than declared. */
  connections?: number;
  /** Epoch ms a pause ends, when paused. */
  pausedUntil?: number;
}

export interface IpStatus {
  address: string;
  pod?: string;
  /** The warm-up day (0 before the start date); null for an IP that does not warm up. */
  warmupDay: number | null;
  /** Messages the IP may send today; null: no cap. */
  dailyLimit: number | null;
  /** Messages dispatched from the IP today (pool time zone). */
  sentToday: number;
  /**
   * Paused: some destination paused it; Throttled: some destination takes it at a reduced
   * rate; Warming: it has a daily cap; Active: none of these.
   */
  state: IpState;
  /** Sites that slow the IP now, the slowest first. */
  throttled: ThrottledSite[];
}

export interface WarmupReading {
  /** The state and cap that apply today (advanced from the stored state if a day began). */
  today: WarmupToday;
  /** The stored value as read (JSON), null when absent: the scheduler's compare-and-set token. */
  stored: string | null;
  sentToday: number;
}

/** Field of the throttle hash: one (IP, site) pair. */
export function throttleField(ip: string, site: string): string {
  return `${ip}|${site}`;
}

/** How a learned state reads in status, metrics and the CLI at `now`. */
export function throttledSite(site: string, state: ThrottleState, now: number): ThrottledSite {
  const paused = now < state.pausedUntil;
  const c = state.connections;
  const connections = c ? learnedConnections(state, c.declared, now) : undefined;
  return {
    site,
    state: paused ? 'Paused' : 'Throttled',
    reason: state.reason,
    messagesPerMinute:
      Math.round(
        100 * Math.min(state.declared, learnedRate(state, paused ? state.pausedUntil : now)),
      ) / 100,
    ceiling: Math.round(100 * state.ceiling) / 100,
    ...(c && connections !== undefined && connections < c.declared ? { connections } : {}),
    ...(paused ? { pausedUntil: state.pausedUntil } : {}),
  };
}

/** Field of the per-day outcome counters. */
export function outcomeField(ip: string, kind: 'delivered' | 'attempted'): string {
  return `${ip}|${kind}`;
}

/** The stored warm-up state, or undefined when absent or unreadable (the calendar decides). */
export function parseWarmupState(raw: string | null | undefined): WarmupState | undefined {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<WarmupState>;
    if (
      typeof value.day === 'number' &&
      Number.isInteger(value.day) &&
      typeof value.lastDayKey === 'string'
    ) {
      return { day: value.day, lastDayKey: value.lastDayKey };
    }
  } catch {
    // fall through: an unreadable state is as good as none
  }
  return undefined;
}

/** The warm-up standing of every warming IP of the pool (IPs without warm-up are left out). */
export async function readWarmup(
  redis: Redis,
  pool: CompiledPool,
  now: number,
): Promise<Map<string, WarmupReading>> {
  const warming = pool.ips.filter((ip) => ip.warmupStartDate !== undefined);
  const out = new Map<string, WarmupReading>();
  if (warming.length === 0) return out;
  const today = calendarDayKey(now, pool.timeZone);
  const addresses = warming.map((ip) => ip.address);
  const [stored, sent] = await Promise.all([
    redis.hmget(REDIS_KEYS.warmup(pool.key), ...addresses),
    redis.hmget(REDIS_KEYS.sentOnDay(pool.key, today), ...addresses),
  ]);
  const states = stored.map(parseWarmupState);
  const lastDays = await Promise.all(
    states.map(async (state, i) => {
      if (state === undefined || state.lastDayKey === today) return undefined;
      const address = addresses[i] as string;
      const [delivered, attempted] = await redis.hmget(
        REDIS_KEYS.outcomesOnDay(pool.key, state.lastDayKey),
        outcomeField(address, 'delivered'),
        outcomeField(address, 'attempted'),
      );
      return { delivered: Number(delivered ?? 0), attempted: Number(attempted ?? 0) };
    }),
  );
  warming.forEach((ip, i) => {
    const state = states[i];
    const lastDay = lastDays[i];
    out.set(ip.address, {
      today: warmupToday({
        schedule: pool.warmup.schedule,
        startDate: ip.warmupStartDate as string,
        timeZone: pool.timeZone,
        threshold: pool.warmup.minDeliveredRatio,
        now,
        ...(state ? { stored: state } : {}),
        ...(lastDay ? { lastDay } : {}),
      }),
      stored: stored[i] ?? null,
      sentToday: Number(sent[i] ?? 0),
    });
  });
  return out;
}

/** Every throttle state of the pool by IP; entries that no longer slow anything are left out. */
export async function readThrottleStates(
  redis: Redis,
  poolKey: string,
  now: number,
): Promise<Map<string, Map<string, ThrottleState>>> {
  const all = await redis.hgetall(REDIS_KEYS.throttle(poolKey));
  const byIp = new Map<string, Map<string, ThrottleState>>();
  for (const [field, raw] of Object.entries(all)) {
    const bar = field.indexOf('|');
    if (bar < 0) continue;
    let state: unknown;
    try {
      state = JSON.parse(raw);
    } catch {
      continue;
    }
    if (!isThrottleState(state) || throttleStatus(state, now) === 'Active') continue;
    const ip = field.slice(0, bar);
    const sites = byIp.get(ip) ?? new Map<string, ThrottleState>();
    sites.set(field.slice(bar + 1), state);
    byIp.set(ip, sites);
  }
  return byIp;
}

/** One status row per IP of the pool, in pool order. */
export async function readIpStatus(
  redis: Redis,
  pool: CompiledPool,
  now: number,
): Promise<IpStatus[]> {
  const today = calendarDayKey(now, pool.timeZone);
  const [warmup, throttles, sent] = await Promise.all([
    readWarmup(redis, pool, now),
    readThrottleStates(redis, pool.key, now),
    redis.hgetall(REDIS_KEYS.sentOnDay(pool.key, today)),
  ]);
  return pool.ips.map((ip) => {
    const reading = warmup.get(ip.address);
    const sites = [...(throttles.get(ip.address)?.entries() ?? [])]
      .map(([site, s]) => throttledSite(site, s, now))
      .sort((a, b) => a.messagesPerMinute - b.messagesPerMinute);
    const statuses = sites.map((s) => s.state);
    const state: IpState = statuses.includes('Paused')
      ? 'Paused'
      : statuses.includes('Throttled')
        ? 'Throttled'
        : reading
          ? 'Warming'
          : 'Active';
    return {
      address: ip.address,
      ...(ip.pod ? { pod: ip.pod } : {}),
      warmupDay: reading ? reading.today.day : null,
      dailyLimit: reading ? reading.today.dailyLimit : null,
      sentToday: Number(sent[ip.address] ?? 0),
      state,
      throttled: sites,
    };
  });
}
