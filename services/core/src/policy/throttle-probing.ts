/**
 * When a learned rate is held, probed and grown again (see throttle.ts): pure timing of
 * one (IP, site) pair's state, apart from how signals change that state.
 */

import { MINUTE, SECOND } from './duration.ts';
import type { ThrottleState } from './throttle.ts';

/** No learned rate goes lower; a pair refused again at it pauses. */
export const MIN_MESSAGES_PER_MINUTE = 1;
/** The probe goes this share past the ceiling (at least PROBE_MIN_OVER messages a minute). */
export const PROBE_OVER = 0.15;
const PROBE_MIN_OVER = 3;
/** The probe lasts this long per unit of climb it needs (see probeMs): a window and a bit. */
const PROBE_CLIMB_MS = 1.2 * MINUTE;
/** A hold lasts at least as long as this many messages take at the held rate. */
export const PROBE_EVERY = 64;
/** Once the probe ran clean, each further step multiplies the rate by this. */
export const PROBE_GROWTH = 4;
/** Growth steps (and connection steps) fit this many times into one `recoverAfter`. */
export const PROBE_STEPS_PER_HOLD = 8;

/** One growth (or connection) step. */
export function stepMs(recoverAfter: number): number {
  return Math.max(SECOND, recoverAfter / PROBE_STEPS_PER_HOLD);
}

/** The probing step at `now`: 0 during the hold, then 1, 2, ... (connections). */
export function stepAt(since: number, recoverAfter: number, now: number): number {
  const probing = now - since - recoverAfter;
  return probing < 0 ? 0 : Math.floor(probing / stepMs(recoverAfter)) + 1;
}

/**
 * How long the learned rate is held before the probe: `recoverAfter`, and at least the
 * time PROBE_EVERY messages take at that rate, because each probe of a receiver that
 * still limits costs a refused message.
 */
export function holdMs(state: ThrottleState): number {
  return Math.max(state.recoverAfter, (PROBE_EVERY / state.rate) * MINUTE);
}

/** The probe's rate: a little past the ceiling, so the pair's count can pass it. */
export function probeRate(state: ThrottleState): number {
  return Math.max(state.ceiling + PROBE_MIN_OVER, state.ceiling * (1 + PROBE_OVER));
}

/**
 * How long the probe runs. The pair's count in the window climbs from the held rate by
 * the difference of the two rates per minute; the probe lasts until a backlog would have
 * taken it two past the ceiling, so a probe that ran clean means the receiver took more
 * than it refused at: it relented. With no backlog nothing is proven, and a receiver
 * still limiting refuses the next burst after a count that tells the ceiling again.
 */
export function probeMs(state: ThrottleState): number {
  const held = Math.max(MIN_MESSAGES_PER_MINUTE, Math.floor(state.rate));
  const probe = Math.floor(probeRate(state));
  const climb = Math.max(0, state.ceiling + 2 - held) / Math.max(1, probe - held);
  return Math.min(MINUTE, Math.max(stepMs(state.recoverAfter), climb * PROBE_CLIMB_MS));
}

export function rateAt(state: ThrottleState, now: number): number {
  const t = now - state.since;
  const hold = holdMs(state);
  if (t < hold) return state.rate;
  const probe = probeMs(state);
  if (t < hold + probe) return probeRate(state);
  const k = Math.floor((t - hold - probe) / stepMs(state.recoverAfter)) + 1;
  return probeRate(state) * PROBE_GROWTH ** Math.min(k, 32);
}
