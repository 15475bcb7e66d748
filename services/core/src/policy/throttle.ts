/**
 * Adaptive shaping of one (sending IP, site) pair: finding the rate and the number of
 * connections a receiver really takes, and holding just under it. The state is a small
 * JSON object that replicas share through Redis; every rate in it is absolute (messages a
 * minute), so it stays true when the pool's declared rate changes.
 *
 * On a throttle signal the pair learns the **ceiling**: what the receiver had counted when
 * it refused (measured by the caller: dispatches of the pair in the last rate window up
 * to the refused one). Replies come back in any order and a refused dispatch's count
 * includes the refused ones before it, so each reply of the same episode refines it
 * (episodeCeiling) without cutting again. The pair goes CUT_MARGIN under the
 * ceiling (and at least that far under the rate in force). Unless the receiver refused
 * after a count that says something (TRUSTED_COUNT), the cut is never deeper than
 * `factor` at once, so a stray reply cannot throw a pair down to a trickle. There is no
 * pause: the rate window (reserve.ts) already holds the pair back until the receiver's
 * minute has room again.
 *
 * The learned rate is held for `recoverAfter`, and at least as long as PROBE_EVERY
 * messages take at it. Then one **probe**: a rate PROBE_OVER past the ceiling, for as long
 * as a backlog needs to take the pair's count two past it (the count climbs by the
 * difference of the two rates per window, not at once). A receiver that still limits
 * refuses the probe: back under the count it refused at, and hold again, so a pair at its
 * limit pays about one refused message per hold. A probe that ran clean means the
 * receiver took more than it had refused at, so it relented: each further step
 * (`recoverAfter / PROBE_STEPS_PER_HOLD`) multiplies the rate by PROBE_GROWTH up to the
 * declared one; a refusal on the way is read like the first one. Probing in small steps
 * under the ceiling would gain nothing: the ceiling was measured, and steps shorter than a
 * window "run clean" before the receiver has seen them, which makes later refusals come
 * at rates believed clean, several at a time.
 *
 * Signals from jobs dispatched before the last cut belong to the episode that caused it
 * (deliveries already in flight answering the same way): they refine its ceiling and cut
 * nothing more, so fifty refusals cut once. Only a pair already at
 * MIN_MESSAGES_PER_MINUTE that is refused again pauses, for `pause`: the receiver is not
 * counting, it is refusing.
 *
 * Connections are learned the same way from replies that name connections and from
 * refused or reset connections: the pair's concurrent connections drop by `factor` (at
 * least one fewer, never below one), then come back one per probing step after the hold.
 *
 * No state (undefined) means nothing learned: the declared rate and connections apply.
 */

import type { ThrottleSpec } from '../pool/spec.ts';
import { durationOr, MINUTE, SECOND } from './duration.ts';
import { BadThrottleError, PolicyArgumentError } from './errors.ts';
import {
  holdMs,
  MIN_MESSAGES_PER_MINUTE,
  PROBE_GROWTH,
  probeMs,
  probeRate,
  rateAt,
  stepAt,
  stepMs,
} from './throttle-probing.ts';

export {
  MIN_MESSAGES_PER_MINUTE,
  PROBE_EVERY,
  PROBE_GROWTH,
  PROBE_OVER,
  PROBE_STEPS_PER_HOLD,
} from './throttle-probing.ts';

export const DEFAULT_THROTTLE_PAUSE = 1 * MINUTE;
export const DEFAULT_THROTTLE_FACTOR = 0.5;
export const DEFAULT_THROTTLE_RECOVER_AFTER = 90 * SECOND;
/** A cut goes this far under the measured ceiling (and under the rate in force). */
export const CUT_MARGIN = 0.05;
/** A refusal after at least this many dispatches in the window tells the receiver's limit. */
export const TRUSTED_COUNT = 10;
/** Refusals of one episode read for its ceiling; later ones change nothing. */
const EPISODE_COUNTS = 64;
/** A learned state is kept this long after it last mattered, so a restart keeps it. */
export const LEARNED_KEEP_MS = 24 * 60 * MINUTE;

export interface ThrottleSettings {
  /** ms a pair already at the lowest rate stops sending after a further signal. */
  readonly pause: number;
  /** The deepest single cut: the new rate is at least `factor` times the one in force. */
  readonly factor: number;
  /** ms a learned rate is held without a signal before probing upward. */
  readonly recoverAfter: number;
}

/** What kind of "slow down" a signal was. */
export type ThrottleReason = 'rate' | 'connections';

export interface ThrottleState {
  /** Messages a minute in force from `since`, before probing. */
  rate: number;
  /** Epoch ms of the last cut: probing counts from here. */
  since: number;
  /** Messages a minute at which the receiver last began to refuse. */
  ceiling: number;
  /** The rate held through the last hold when its probe was refused; 0: not known. */
  clean: number;
  /** The declared rate when the state was made (when it is reached, the state may go). */
  declared: number;
  /** Epoch ms before which nothing is sent; 0: not paused. */
  pausedUntil: number;
  /** ms of hold before probing, kept from the settings of the last signal. */
  recoverAfter: number;
  /** What the last signal was about. */
  reason: ThrottleReason;
  /**
   * The episode that set the ceiling: the counts its refusals were read at (ascending),
   * and the highest rate it may hold (a margin under the rate it was refused at).
   */
  episode?: { counts: number[]; cap: number };
  /** Learned concurrent connections and when they were cut; absent: the declared ones. */
  connections?: { limit: number; since: number; declared: number };
}

export type ThrottleStatus = 'Active' | 'Throttled' | 'Paused';

export interface EffectiveRate {
  /** Present while paused: nothing may be sent before this epoch ms. */
  pausedUntil?: number;
  /** The rate that applies now or, while paused, once the pause ends. */
  messagesPerMinute: number;
}

/** What the caller saw when a signal came. */
export interface ThrottleSignal {
  now: number;
  reason: ThrottleReason;
  /** The declared messages per minute of the pair's rate policy. */
  declared: number;
  /** The declared concurrent connections of the pair's rate policy. */
  declaredConnections: number;
  /** Dispatches of the pair in the last rate window: what the receiver had counted. */
  measured: number;
  /** When the refused job was dispatched; absent: unknown (counted as a new episode). */
  dispatchedAt?: number;
}

export const DEFAULT_THROTTLE_SETTINGS: ThrottleSettings = Object.freeze({
  pause: DEFAULT_THROTTLE_PAUSE,
  factor: DEFAULT_THROTTLE_FACTOR,
  recoverAfter: DEFAULT_THROTTLE_RECOVER_AFTER,
});

/**
 * A rate policy's onThrottle with durations parsed and missing fields taken from
 * `defaults` (another policy's settings, or the built-in ones); `field` names the spec
 * path in errors.
 */
export function resolveThrottleSettings(
  spec: ThrottleSpec = {},
  field = 'onThrottle',
  defaults: ThrottleSettings = DEFAULT_THROTTLE_SETTINGS,
): ThrottleSettings {
  const pause = durationOr(spec.pause, defaults.pause, `${field}.pause`);
  const recoverAfter = durationOr(
    spec.recoverAfter,
    defaults.recoverAfter,
    `${field}.recoverAfter`,
  );
  const factor = spec.factor ?? defaults.factor;
  if (!(factor > 0 && factor < 1)) {
    throw new BadThrottleError(
      `${field}.factor must be between 0 and 1 (exclusive), got ${factor}`,
    );
  }
  if (recoverAfter <= 0) {
    throw new BadThrottleError(`${field}.recoverAfter must be longer than zero`);
  }
  return Object.freeze({ pause, factor, recoverAfter });
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
const time = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Whether a value read back from storage is a usable throttle state. */
export function isThrottleState(value: unknown): value is ThrottleState {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  const c = s.connections as Record<string, unknown> | undefined;
  return (
    positive(s.rate) &&
    time(s.since) &&
    positive(s.ceiling) &&
    time(s.clean) &&
    positive(s.declared) &&
    time(s.pausedUntil) &&
    positive(s.recoverAfter) &&
    (s.reason === 'rate' || s.reason === 'connections') &&
    (s.episode === undefined ||
      (typeof s.episode === 'object' &&
        s.episode !== null &&
        Array.isArray((s.episode as Record<string, unknown>).counts) &&
        ((s.episode as Record<string, unknown>).counts as unknown[]).every(positive) &&
        positive((s.episode as Record<string, unknown>).cap))) &&
    (c === undefined ||
      (typeof c === 'object' &&
        c !== null &&
        positive(c.limit) &&
        time(c.since) &&
        positive(c.declared)))
  );
}

/** The learned messages per minute at `now` (Infinity: nothing learned limits it). */
export function learnedRate(state: ThrottleState | undefined, now: number): number {
  if (state === undefined) return Number.POSITIVE_INFINITY;
  return rateAt(state, now);
}

/**
 * The receiver's count from the counts of an episode's refusals (ascending): the j-th
 * refusal's window held at least j - 1 refused dispatches the receiver did not take. A
 * delivery that was overtaken and refused early reads low and is outweighed.
 */
function episodeCeiling(counts: readonly number[]): number {
  let best = 0;
  for (const [j, count] of counts.entries()) best = Math.max(best, count - j);
  return best;
}

function checkSignal(signal: ThrottleSignal): void {
  if (!Number.isFinite(signal.now)) {
    throw new PolicyArgumentError(`now must be epoch ms, got ${signal.now}`);
  }
  if (!(signal.declared > 0)) {
    throw new PolicyArgumentError(`declared rate must be > 0, got ${signal.declared}`);
  }
  if (!(signal.declaredConnections >= 1)) {
    throw new PolicyArgumentError(
      `declared connections must be >= 1, got ${signal.declaredConnections}`,
    );
  }
}

/** The learned connections at `now`: one back per probing step after the hold. */
export function learnedConnections(
  state: ThrottleState | undefined,
  declared: number,
  now: number,
): number {
  const c = state?.connections;
  if (c === undefined || state === undefined) return declared;
  return Math.min(declared, c.limit + stepAt(c.since, state.recoverAfter, now));
}

/** The state after a "slow down" signal; the same object when it changes nothing. */
export function onThrottleSignal(
  state: ThrottleState | undefined,
  signal: ThrottleSignal,
  settings: ThrottleSettings,
): ThrottleState {
  checkSignal(signal);
  const { now, declared } = signal;
  if (signal.reason === 'connections') {
    const c = state?.connections;
    if (c !== undefined && signal.dispatchedAt !== undefined && signal.dispatchedAt < c.since) {
      return state as ThrottleState;
    }
    const inForce = learnedConnections(state, signal.declaredConnections, now);
    // A refused probe goes back one; otherwise cut by `factor`, at least one fewer.
    const limit =
      c !== undefined && inForce > c.limit
        ? Math.max(1, inForce - 1)
        : Math.max(1, Math.min(inForce - 1, Math.floor(inForce * settings.factor)));
    const base: ThrottleState = state ?? {
      rate: declared,
      since: now,
      ceiling: declared,
      clean: 0,
      declared,
      pausedUntil: 0,
      recoverAfter: settings.recoverAfter,
      reason: 'connections',
    };
    return {
      ...base,
      reason: 'connections',
      recoverAfter: settings.recoverAfter,
      connections: { limit, since: now, declared: signal.declaredConnections },
    };
  }
  if (
    state !== undefined &&
    signal.dispatchedAt !== undefined &&
    signal.dispatchedAt < state.since
  ) {
    // Replies come back in any order, and deliveries overtake each other on parallel
    // connections, so one refused dispatch's count is not the receiver's: each refused
    // dispatch before it in the window is counted too, and the receiver took none of them.
    const episode = state.episode;
    if (
      state.reason !== 'rate' ||
      episode === undefined ||
      signal.measured < TRUSTED_COUNT ||
      episode.counts.length >= EPISODE_COUNTS
    ) {
      return state;
    }
    const counts = [...episode.counts, signal.measured].sort((x, y) => x - y);
    const ceiling = Math.max(TRUSTED_COUNT, episodeCeiling(counts));
    return {
      ...state,
      ceiling,
      rate: Math.max(MIN_MESSAGES_PER_MINUTE, Math.min(episode.cap, (1 - CUT_MARGIN) * ceiling)),
      episode: { ...episode, counts },
    };
  }
  if (state !== undefined && now < state.pausedUntil) return state;
  const inForce = Math.min(declared, learnedRate(state, now));
  const seen = Math.max(MIN_MESSAGES_PER_MINUTE, signal.measured);
  // Refused above the held rate: a probe, or the growth after one, went too far.
  const probing = state !== undefined && inForce > state.rate;
  let ceiling: number;
  let rate: number;
  if (seen >= TRUSTED_COUNT) {
    // The count is what the receiver took: the ceiling, with a margin under it. Refused
    // at the held rate, the pair goes at least a margin lower, so a receiver that lowered
    // its limit (or bunches arrivals) is followed down a margin per refusal.
    ceiling = seen;
    rate = (1 - CUT_MARGIN) * Math.min(seen, inForce);
  } else if (probing) {
    // Too few dispatches to read a limit from: back to the rate that ran clean.
    ceiling = (state as ThrottleState).ceiling;
    rate = (state as ThrottleState).rate;
  } else {
    // Maybe a stray reply: `factor` bounds the cut.
    ceiling = inForce;
    rate = Math.min(
      (1 - CUT_MARGIN) * inForce,
      Math.max(inForce * settings.factor, (1 - CUT_MARGIN) * seen),
    );
  }
  const atFloor = inForce <= MIN_MESSAGES_PER_MINUTE;
  const next: ThrottleState = {
    rate: Math.max(MIN_MESSAGES_PER_MINUTE, Math.min(rate, inForce)),
    since: now,
    ceiling,
    clean: probing ? (state as ThrottleState).rate : 0,
    declared,
    pausedUntil: atFloor ? now + settings.pause : 0,
    recoverAfter: settings.recoverAfter,
    reason: 'rate',
    ...(seen >= TRUSTED_COUNT && signal.dispatchedAt !== undefined
      ? { episode: { counts: [seen], cap: (1 - CUT_MARGIN) * inForce } }
      : {}),
  };
  if (state?.connections) next.connections = state.connections;
  return next;
}

/** The rate to send at, given the rate policy's declared messages per minute. */
export function effectiveRate(
  state: ThrottleState | undefined,
  declaredRate: number,
  now: number,
): EffectiveRate {
  if (!(declaredRate > 0)) {
    throw new PolicyArgumentError(`declared rate must be > 0, got ${declaredRate}`);
  }
  const paused = state !== undefined && now < state.pausedUntil;
  const messagesPerMinute = Math.min(
    declaredRate,
    Math.max(MIN_MESSAGES_PER_MINUTE, learnedRate(state, paused ? state.pausedUntil : now)),
  );
  return paused ? { pausedUntil: state.pausedUntil, messagesPerMinute } : { messagesPerMinute };
}

/** What RelayPool status shows for the pair: Paused, Throttled (reduced rate or connections) or Active. */
export function throttleStatus(state: ThrottleState | undefined, now: number): ThrottleStatus {
  if (state === undefined) return 'Active';
  if (now < state.pausedUntil) return 'Paused';
  const slowed = learnedRate(state, now) < state.declared;
  const fewer =
    state.connections !== undefined &&
    learnedConnections(state, state.connections.declared, now) < state.connections.declared;
  return slowed || fewer ? 'Throttled' : 'Active';
}

/** Epoch ms from which the state no longer slows anything (rate and connections back). */
export function throttleRecoveredAt(state: ThrottleState): number {
  let at = state.since;
  if (state.rate < state.declared) {
    at += holdMs(state);
    const probe = probeRate(state);
    if (probe < state.declared) {
      const k = Math.ceil(Math.log(state.declared / probe) / Math.log(PROBE_GROWTH));
      at += probeMs(state) + (Math.min(k, 32) - 1) * stepMs(state.recoverAfter);
    }
  }
  const c = state.connections;
  if (c !== undefined && c.limit < c.declared) {
    const step = stepMs(state.recoverAfter);
    at = Math.max(at, c.since + state.recoverAfter + (c.declared - c.limit - 1) * step);
  }
  return Math.max(at, state.pausedUntil);
}

/**
 * Epoch ms from which the state may be dropped: a day after it stopped slowing anything,
 * so what was learned survives restarts and guides the next episode.
 */
export function throttleSettledAt(state: ThrottleState): number {
  return throttleRecoveredAt(state) + LEARNED_KEEP_MS;
}
