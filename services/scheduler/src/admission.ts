/**
 * Admission decides, for one delivery item that is due, whether it may leave now and from
 * which IP, or until when it waits. It applies, per (IP, site): the throttle pause and the
 * reduced rate after a "slow down", the rate policy's messages per minute (a sliding
 * window, paced), the pool-wide rate, and the warm-up cap of the day; and it keeps the
 * order of a destination's waiting mail through the parking lanes (parking.ts).
 *
 * IPs are tried from the item's home IP on (a stable hash of the item, moved one IP on per
 * attempt, so mail spreads evenly and a retry tries another IP). When the home IP's cap is
 * used up the pool's warm-up overflow decides: "defer" waits for that IP's next day,
 * "spill" sends from any IP with room. Rate limits never make mail wait while another IP
 * has room.
 */

import { activeIps, type CompiledPool, type QueueItem } from '@hikyaku/core';
import { effectiveRate, learnedConnections, nextDayStart } from '@hikyaku/core/policy';
import type { Redis } from 'ioredis';
import type { Destinations } from './destinations.ts';
import { SchedulerError } from './errors.ts';
import type { Parking } from './parking.ts';
import { type ReserveInput, type ReserveResult, reserve } from './reserve.ts';
import type { ThrottleStore } from './throttles.ts';
import type { WarmupCaps } from './warmup-caps.ts';

export type WaitReason =
  | 'no-active-ip'
  /** Woke before its turn; not a new deferral. */
  | 'parked'
  /** Behind other waiting mail for the same destination. */
  | 'queued'
  | 'throttled'
  | 'rate'
  | 'pool-rate'
  | 'warmup-cap';

export type AdmissionDecision =
  | {
      kind: 'send';
      ip: string;
      policy: string;
      site: string;
      /** Learned concurrent connections, when fewer than the policy declares. */
      connections?: number;
      /** The home IP whose warm-up cap was used up, when the item spilled from it. */
      spilledFrom?: string;
    }
  | { kind: 'wait'; until: number; reason: WaitReason };

/** What a screened look found: a suppressed recipient, or the decision made. */
export type ScreenedDecision =
  /** Suppression list values of the screened fields, in order (null: not there). */
  | { kind: 'suppressed'; found: (string | null)[] }
  /** `screened` false: decided without Redis (no active IP), the recipients unread. */
  | { kind: 'decided'; decision: AdmissionDecision; screened: boolean };

export interface Admission {
  decide(item: QueueItem, pool: CompiledPool, now: number): Promise<AdmissionDecision>;
  /**
   * decide, with suppression list fields read first in the same Redis call: when any is
   * there, nothing is decided or written and the values come back instead.
   */
  decideScreened(
    item: QueueItem,
    pool: CompiledPool,
    now: number,
    screen: { key: string; fields: readonly string[] },
  ): Promise<ScreenedDecision>;
  /** Drops whatever the item holds in parking (it expired or was dropped). */
  forget(item: QueueItem, pool: CompiledPool): Promise<void>;
}

/**
 * How long mail waits when the pool has no IP that may send: between half of this and all
 * of it, at random, so a backlog does not wake all at once when an IP comes back.
 */
const NO_IP_WAIT_MS = 30_000;
/**
 * How long an item waits when its home IP's warm-up standing kept changing under it (three
 * 'stale' reservations, at the start of a day while replicas move IPs on).
 */
const STALE_CAP_WAIT_MS = 100;
/** Home pairs' throttle states as last read, kept for this many pairs at most. */
const LAST_STATES_MAX = 10_000;

/** The item's identity in lanes and logs: one per (message, domain, part, attempt). */
export function itemKey(item: QueueItem): string {
  const { id, domain, part } = item.delivery;
  return `${id}|${domain}|${part ?? 0}|${item.attempt}`;
}

/** FNV-1a: a cheap stable hash, so every replica picks the same home IP for an item. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function homeIndex(item: QueueItem, ipCount: number): number {
  const { id, domain, part } = item.delivery;
  return (hash(`${id}|${domain}|${part ?? 0}`) + item.attempt) % ipCount;
}

export function createShapingAdmission(deps: {
  redis: Redis;
  destinations: Destinations;
  throttles: ThrottleStore;
  caps: WarmupCaps;
  parking: Parking;
  /** The rate window: a minute plus slack for arrival jitter (see reserve.ts). */
  windowMs: number;
  /** Spreads waits that many items would otherwise end together; Math.random when absent. */
  rng?: () => number;
}): Admission {
  const { redis, destinations, throttles, caps, parking, windowMs } = deps;
  const rng = deps.rng ?? Math.random;
  /** The raw throttle state each (pool, IP, site) had when last read ('' for none). */
  const lastStates = new Map<string, string>();

  function lanesOf(item: QueueItem, pool: CompiledPool, site: string): [string, string] {
    const ips = activeIps(pool);
    const home = ips.length > 0 ? ips[homeIndex(item, ips.length)]?.address : undefined;
    const capLane = pool.warmup.overflow === 'spill' || !home ? 'cap:*' : `cap:${home}`;
    return [`site:${site}`, capLane];
  }

  async function decideWith(
    item: QueueItem,
    pool: CompiledPool,
    now: number,
    screen?: { key: string; fields: readonly string[] },
  ): Promise<AdmissionDecision | { kind: 'suppressed'; found: (string | null)[] }> {
    const ips = activeIps(pool);
    if (ips.length === 0) {
      const wait = Math.ceil(NO_IP_WAIT_MS * (0.5 + 0.5 * rng()));
      return { kind: 'wait', until: now + wait, reason: 'no-active-ip' };
    }
    const { policy, site } = await destinations.resolve(pool, item.delivery.domain);
    const start = homeIndex(item, ips.length);
    const order = ips.map((_, i) => ips[(start + i) % ips.length] as (typeof ips)[number]);
    const lanes = lanesOf(item, pool, site);
    const [siteLane, capLane] = lanes;
    const key = itemKey(item);
    const declared = policy.perIp.messagesPerMinute;
    const poolRate = policy.poolMessagesPerMinute;
    const poolLimit = poolRate === null ? 0 : Math.max(1, Math.floor(poolRate));
    const siteSpacing = Math.max(
      windowMs / (declared * ips.length),
      poolLimit > 0 ? windowMs / poolLimit : 0,
    );
    const park = async (
      lane: string,
      earliest: number,
      spacing: number,
      reason: WaitReason,
      front = false,
    ): Promise<AdmissionDecision> => {
      const until = await parking.park({
        pool: pool.key,
        item: key,
        policy: policy.name,
        receivedAt: item.delivery.receivedAt,
        lane,
        otherLanes: lanes,
        now,
        earliest,
        spacing,
        front,
      });
      return { kind: 'wait', until, reason };
    };

    let dayCaps = await caps.get(pool, now);
    const releaseKeys = parking.releaseKeys(pool.key, policy.name, lanes);
    const read = throttles.where(
      pool.key,
      site,
      order.map((ip) => ip.address),
    );
    const reservation = (ip: string, messagesPerMinute: number): ReserveInput => {
      const cap = dayCaps.caps.get(ip);
      return {
        pool: pool.key,
        ip,
        site,
        now,
        windowMs,
        limit: Math.max(1, Math.floor(messagesPerMinute)),
        poolLimit,
        ...(cap ? { cap: { limit: cap.limit, stored: cap.stored } } : {}),
        dayKey: dayCaps.dayKey,
        entry: `${key}@${now}`,
        item: key,
        releaseKeys,
      };
    };
    // The home IP's first reservation rides in the turn check, computed from the state
    // its pair had when last read: the script makes it only when that is still the
    // state, so it is the reservation the loop below would make first.
    const home = order[0] as (typeof order)[number];
    const homeField = `${pool.key}\n${read.fields[0]}`;
    const expected = lastStates.get(homeField) ?? '';
    const homeRate = effectiveRate(throttles.parse([expected])[0], declared, now);
    const turn = await parking.turn({
      pool: pool.key,
      item: key,
      policy: policy.name,
      receivedAt: item.delivery.receivedAt,
      lanes,
      now,
      spacing: siteSpacing,
      plan: String(pool.generation),
      read,
      ...(screen ? { screen } : {}),
      ...(homeRate.pausedUntil === undefined
        ? { reserve: { input: reservation(home.address, homeRate.messagesPerMinute), expected } }
        : {}),
    });
    if (turn.kind === 'suppressed') return turn;
    if (turn.kind === 'queued') return { kind: 'wait', until: turn.at, reason: 'queued' };
    if (turn.kind === 'own' && turn.at > now) {
      return { kind: 'wait', until: turn.at, reason: 'parked' };
    }
    if (lastStates.size >= LAST_STATES_MAX) lastStates.clear();
    for (const [i, field] of read.fields.entries()) {
      lastStates.set(`${pool.key}\n${field}`, turn.read[i] ?? '');
    }
    let reserved = turn.reserved;

    const states = throttles.parse(turn.read);
    let earliest = Number.POSITIVE_INFINITY;
    let reason: WaitReason = 'rate';
    let capped = 0;
    let homeCapped = false;
    for (const [i, ip] of order.entries()) {
      const rate = effectiveRate(states[i], declared, now);
      if (rate.pausedUntil !== undefined) {
        if (rate.pausedUntil < earliest) [earliest, reason] = [rate.pausedUntil, 'throttled'];
        continue;
      }
      let result: ReserveResult = { kind: 'stale' };
      for (let tries = 0; result.kind === 'stale' && tries < 3; tries++) {
        if (tries > 0) {
          caps.invalidate(pool);
          dayCaps = await caps.get(pool, now);
        }
        if (reserved && i === 0) {
          // Made in the turn check's call (i is 0, tries 0), from this very state.
          result = reserved;
          reserved = undefined;
        } else {
          result = await reserve(redis, reservation(ip.address, rate.messagesPerMinute));
        }
      }
      if (result.kind === 'ok') {
        const declaredConnections = policy.perIp.connections;
        const connections = learnedConnections(states[i], declaredConnections, now);
        return {
          kind: 'send',
          ip: ip.address,
          policy: policy.name,
          site,
          ...(connections < declaredConnections ? { connections } : {}),
          ...(homeCapped && i > 0 ? { spilledFrom: order[0]?.address as string } : {}),
        };
      }
      if (result.kind === 'stale' && i === 0 && pool.warmup.overflow !== 'spill') {
        // The home IP's cap is unknown for a moment: another IP would be a spill the
        // pool's overflow forbids, so the item tries its home again shortly.
        return { kind: 'wait', until: now + STALE_CAP_WAIT_MS, reason: 'warmup-cap' };
      }
      if (result.kind === 'cap') {
        if (i === 0) homeCapped = true;
        if (i === 0 && pool.warmup.overflow !== 'spill') {
          return park(capLane, nextDayStart(now, pool.timeZone), windowMs / declared, 'warmup-cap');
        }
        capped++;
      } else if (result.kind === 'rate' || result.kind === 'pool-rate') {
        if (result.at < earliest) [earliest, reason] = [result.at, result.kind];
        if (result.kind === 'pool-rate') break;
      }
      // 'stale' three times: another replica keeps moving the day; try the next IP (spill
      // mode, or an IP other than the home one).
    }
    if (capped === order.length) {
      return park(capLane, nextDayStart(now, pool.timeZone), windowMs / declared, 'warmup-cap');
    }
    if (!Number.isFinite(earliest)) earliest = now + windowMs / declared;
    const nearMiss = turn.kind === 'own' && reason === 'rate' && earliest - now <= siteSpacing;
    return park(siteLane, earliest, siteSpacing, reason, nearMiss);
  }

  return {
    async decide(item, pool, now) {
      const decision = await decideWith(item, pool, now);
      // Only a screen finds a suppressed recipient.
      if (decision.kind === 'suppressed') {
        throw new SchedulerError(
          'HIKYAKU_REDIS_REPLY',
          'the turn check answered suppressed unasked',
        );
      }
      return decision;
    },

    async decideScreened(item, pool, now, screen) {
      const decision = await decideWith(item, pool, now, screen);
      if (decision.kind === 'suppressed') return decision;
      // Every decision but this one comes after the turn check, which screened.
      const screened = !(decision.kind === 'wait' && decision.reason === 'no-active-ip');
      return { kind: 'decided', decision, screened };
    },

    async forget(item, pool) {
      const { policy, site } = await destinations.resolve(pool, item.delivery.domain);
      await parking.forget(pool.key, itemKey(item), policy.name, lanesOf(item, pool, site));
    },
  };
}
