/**
 * The scheduler's time. Every decision reads `now()` from here, and every wait handed to
 * JetStream (a nak delay, which the server counts in real time) goes through `realMs()`,
 * so a test can run days in seconds: a clock running `speed` times faster than real time
 * turns an hour of its time into an hour / speed of real waiting, and `advance()` jumps.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Real milliseconds until `ms` of this clock have passed (at least 0). */
  realMs(ms: number): number;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  realMs: (ms: number) => Math.max(0, ms),
});

/** A clock from a bare `now` function, which runs at real speed. */
export function clockFrom(now: () => number): Clock {
  return { now, realMs: (ms) => Math.max(0, ms) };
}

export interface TestClock extends Clock {
  readonly speed: number;
  /** Moves the clock forward (or back, with a negative value) at once. */
  advance(ms: number): void;
}

/** A clock that starts at `start` and runs `speed` times faster than real time. */
export function createTestClock(options: { start: number; speed?: number }): TestClock {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`clock speed must be > 0, got ${speed}`);
  const origin = performance.now();
  let offset = options.start;
  return {
    speed,
    now: () => Math.floor(offset + (performance.now() - origin) * speed),
    realMs: (ms) => Math.max(0, ms / speed),
    advance(ms) {
      offset += ms;
    },
  };
}
