/**
 * Adaptive throttling of one (sending IP, rate policy) pair, as a small JSON state that
 * replicas share through Redis.
 *
 * On a throttle signal (a reply classified retry-throttled) sending pauses for `pause`,
 * then resumes at `factor` times the rate it had (0.5: halved). Recovery is by doubling:
 * each full `recoverAfter` window after the pause ends, with no further signal, doubles
 * the factor until the declared rate is reached again. Halving on a complaint and
 * doubling per quiet window keeps the two symmetric: one complaint costs one window at
 * reduced speed, and repeated complaints compound.
 *
 * Signals that arrive while paused belong to the episode that caused the pause (deliveries
 * already in flight answering the same way) and change nothing, so a burst of 50
 * throttled replies halves the rate once, not 50 times. The factor never falls below
 * MIN_THROTTLE_FACTOR (six halvings), so recovery from the worst day takes at most six
 * quiet windows; and the rate never falls below MIN_MESSAGES_PER_MINUTE.
 *
 * No state (undefined) means never throttled; a state becomes equivalent to none at
 * throttleSettledAt(state), when the key may expire.
 */

import type { ThrottleSpec } from '../pool/spec.ts';
import { durationOr, HOUR, MINUTE } from './duration.ts';
import { BadThrottleError, PolicyArgumentError } from './errors.ts';

export const DEFAULT_THROTTLE_PAUSE = 10 * MINUTE;
export const DEFAULT_THROTTLE_FACTOR = 0.5;
export const DEFAULT_THROTTLE_RECOVER_AFTER = 1 * HOUR;
export const MIN_THROTTLE_FACTOR = 1 / 64;
export const MIN_MESSAGES_PER_MINUTE = 1;

export interface ThrottleSettings {
  /** ms to send nothing after a signal. */
  readonly pause: number;
  /** Multiplier applied to the current rate on a signal, in (0, 1). */
  readonly factor: number;
  /** ms of quiet sending after which the rate doubles. */
  readonly recoverAfter: number;
}

export interface ThrottleState {
  /** Fraction of the declared rate in force when the pause ends, in [MIN_THROTTLE_FACTOR, 1]. */
  factor: number;
  /** Epoch ms before which nothing is sent. */
  pausedUntil: number;
  /** ms per recovery window, kept from the settings of the last signal. */
  recoverAfter: number;
}

export type ThrottleStatus = 'Active' | 'Throttled' | 'Paused';

export interface EffectiveRate {
  /** Present while paused: nothing may be sent before this epoch ms. */
  pausedUntil?: number;
  /** The rate that applies now or, while paused, once the pause ends. */
  messagesPerMinute: number;
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

/** Whether a value read back from storage is a usable throttle state. */
export function isThrottleState(value: unknown): value is ThrottleState {
  if (typeof value !== 'object' || value === null) return false;
  const { factor, pausedUntil, recoverAfter } = value as Record<string, unknown>;
  return (
    typeof factor === 'number' &&
    factor >= MIN_THROTTLE_FACTOR &&
    factor <= 1 &&
    typeof pausedUntil === 'number' &&
    Number.isFinite(pausedUntil) &&
    typeof recoverAfter === 'number' &&
    recoverAfter > 0 &&
    Number.isFinite(recoverAfter)
  );
}

/** The fraction of the declared rate in force at `now` (1 when unthrottled). */
export function currentFactor(state: ThrottleState | undefined, now: number): number {
  if (state === undefined) return 1;
  if (now < state.pausedUntil) return state.factor;
  const windows = Math.floor((now - state.pausedUntil) / state.recoverAfter);
  // Past ~6 windows the factor is 1 whatever it was; capping the exponent avoids 2**1e9.
  return Math.min(1, state.factor * 2 ** Math.min(windows, 64));
}

/** The state after a throttle signal at `now`. */
export function onThrottleSignal(
  state: ThrottleState | undefined,
  now: number,
  settings: ThrottleSettings,
): ThrottleState {
  if (!Number.isFinite(now)) throw new PolicyArgumentError(`now must be epoch ms, got ${now}`);
  if (state !== undefined && now < state.pausedUntil) return state;
  return {
    factor: Math.max(MIN_THROTTLE_FACTOR, currentFactor(state, now) * settings.factor),
    pausedUntil: now + settings.pause,
    recoverAfter: settings.recoverAfter,
  };
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
  const factor = currentFactor(state, paused ? state.pausedUntil : now);
  const messagesPerMinute = Math.min(
    declaredRate,
    Math.max(MIN_MESSAGES_PER_MINUTE, declaredRate * factor),
  );
  return paused ? { pausedUntil: state.pausedUntil, messagesPerMinute } : { messagesPerMinute };
}

/** What RelayPool status shows for the pair: Paused, Throttled (reduced rate) or Active. */
export function throttleStatus(state: ThrottleState | undefined, now: number): ThrottleStatus {
  if (state === undefined) return 'Active';
  if (now < state.pausedUntil) return 'Paused';
  return currentFactor(state, now) < 1 ? 'Throttled' : 'Active';
}

/** Epoch ms from which the state is equivalent to no state: a Redis key may expire then. */
export function throttleSettledAt(state: ThrottleState): number {
  const doublings = Math.max(0, Math.ceil(Math.log2(1 / state.factor) - 1e-9));
  return state.pausedUntil + doublings * state.recoverAfter;
}
