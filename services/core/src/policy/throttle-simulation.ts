/**
 * A deterministic bench for the shaping policy (throttle.ts): one (IP, site) pair with an
 * endless backlog, driven on a virtual clock against a receiver that takes at most
 * `limit` arrivals in any 60 s and refuses the rest, the way a carrier's rate limit and
 * the loopback receiver of the scheduler tests do. The relay side copies what the
 * scheduler does around the pure policy: the reserve script's sliding window of
 * `windowMs` and its pacing grid (reserve.ts), the whole-message limit
 * (admission.ts), and the count of the pair's dispatches up to the refused one's
 * dispatch (throttles.ts). Network and processing delays are drawn from a seeded
 * generator, so a run is repeatable and a change of policy can be measured, not guessed.
 */

import { MINUTE, SECOND } from './duration.ts';
import {
  effectiveRate,
  onThrottleSignal,
  type ThrottleSettings,
  type ThrottleState,
} from './throttle.ts';

export interface ShapingRun {
  /** What the receiver takes in any 60 s. */
  limit: number;
  /** The rate policy's messages per minute (what the pool believes). */
  declared: number;
  settings: ThrottleSettings;
  /** How long the receiver limits; then it takes everything. */
  strictMs: number;
  /** Total simulated time. */
  durationMs: number;
  seed: number;
  /** The rate window of the reserve script (a minute plus slack). */
  windowMs?: number;
  /** Longest delay from dispatch to the receiver, and from its reply to the signal. */
  maxDelayMs?: number;
  /** How often the scheduler looks for a slot (its wake-ups). */
  tickMs?: number;
}

export interface ShapingResult {
  /** Epoch ms of the receiver's first acceptance: minutes count from here. */
  first: number;
  accepted: number[];
  refused: number[];
  /** ms from the receiver relenting to the declared rate in force; -1: never. */
  recoveryMs: number;
}

/** mulberry32: small, seeded, good enough to spread delays. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pending {
  at: number;
  dispatchedAt: number;
}

export function simulateShaping(run: ShapingRun): ShapingResult {
  const windowMs = run.windowMs ?? MINUTE + SECOND;
  const maxDelay = run.maxDelayMs ?? 1000;
  const tick = run.tickMs ?? 20;
  const rand = random(run.seed);
  const start = 0;
  const relentAt = start + run.strictMs;
  const dispatched: number[] = [];
  const accepted: number[] = [];
  const refused: number[] = [];
  let arrivals: Pending[] = [];
  let signals: Pending[] = [];
  let state: ThrottleState | undefined;
  let nextAt = 0;
  let recoveryMs = -1;
  let first = -1;
  /** The first dispatch still in the window (they only age out). */
  let oldest = 0;
  for (let now = start; now < start + run.durationMs; now += tick) {
    // Replies that reached the scheduler teach the policy, in the order they came.
    const due = signals.filter((s) => s.at <= now).sort((a, b) => a.at - b.at);
    signals = signals.filter((s) => s.at > now);
    for (const s of due) {
      const measured = countIn(dispatched, s.dispatchedAt - windowMs, s.dispatchedAt);
      state = onThrottleSignal(
        state,
        {
          now,
          reason: 'rate',
          declared: run.declared,
          declaredConnections: 1,
          measured,
          dispatchedAt: s.dispatchedAt,
        },
        run.settings,
      );
    }
    // The receiver counts what it took in its last 60 s when a message arrives.
    const landing = arrivals.filter((a) => a.at <= now).sort((a, b) => a.at - b.at);
    arrivals = arrivals.filter((a) => a.at > now);
    for (const a of landing) {
      const taken = countIn(accepted, a.at - MINUTE, a.at);
      if (a.at < relentAt && taken >= run.limit) {
        refused.push(a.at);
        signals.push({ at: a.at + rand() * maxDelay, dispatchedAt: a.dispatchedAt });
      } else {
        if (first < 0) first = a.at;
        accepted.push(a.at);
      }
    }
    const rate = effectiveRate(state, run.declared, now);
    if (recoveryMs < 0 && now >= relentAt && rate.messagesPerMinute >= run.declared) {
      recoveryMs = now - relentAt;
    }
    if (rate.pausedUntil !== undefined) continue;
    // The reserve script: pacing grid, then the sliding window.
    const limit = Math.max(1, Math.floor(rate.messagesPerMinute));
    const interval = Math.floor(windowMs / limit);
    if (nextAt - now > interval / 2) continue;
    while (oldest < dispatched.length && (dispatched[oldest] as number) <= now - windowMs) {
      oldest++;
    }
    if (dispatched.length - oldest >= limit) continue;
    dispatched.push(now);
    nextAt = now - nextAt >= interval ? now + interval : nextAt + interval;
    arrivals.push({ at: now + rand() * maxDelay, dispatchedAt: now });
  }
  return { first, accepted, refused, recoveryMs };
}

/** Entries in (from, to]; the lists are sorted, so search from the end. */
function countIn(list: readonly number[], from: number, to: number): number {
  let n = 0;
  for (let i = list.length - 1; i >= 0; i--) {
    const at = list[i] as number;
    if (at <= from) break;
    if (at <= to) n++;
  }
  return n;
}

export interface ShapingSummary {
  /** Accepted a minute over the steady minutes, as a share of the limit. */
  held: number;
  /** Refused attempts over the steady minutes, as a share of all attempts. */
  refusedShare: number;
  /** The fewest accepted in one steady minute, as a share of the limit. */
  worstMinute: number;
  /** Accepted per minute and refused per minute, from the first acceptance. */
  perMinute: { accepted: number[]; refused: number[] };
}

/** Minutes from `fromMinute` (counted from the first acceptance) to the end of strictness. */
export function summarize(run: ShapingRun, result: ShapingResult, fromMinute = 1): ShapingSummary {
  const minuteOf = (at: number) => Math.floor((at - result.first) / MINUTE);
  const minutes = Math.floor((run.strictMs - result.first) / MINUTE);
  const count = (list: number[]) => {
    const per = Array.from({ length: minutes }, () => 0);
    for (const at of list) {
      const m = minuteOf(at);
      if (m >= 0 && m < minutes) per[m] = (per[m] as number) + 1;
    }
    return per;
  };
  const ok = count(result.accepted);
  const no = count(result.refused);
  const steadyOk = ok.slice(fromMinute);
  const steadyNo = no.slice(fromMinute);
  const sent = steadyOk.reduce((a, b) => a + b, 0);
  const refusedSteady = steadyNo.reduce((a, b) => a + b, 0);
  return {
    held: sent / steadyOk.length / run.limit,
    refusedShare: refusedSteady / (sent + refusedSteady),
    worstMinute: Math.min(...steadyOk) / run.limit,
    perMinute: { accepted: ok, refused: no },
  };
}
