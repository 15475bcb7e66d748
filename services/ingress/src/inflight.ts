/**
 * The bytes of message data the ingress holds at once, over every session and listener.
 * A message is held whole until JetStream has stored it, so without a bound N concurrent
 * messages of S bytes take N × S (and a few copies of it) of memory. Each DATA takes a
 * reservation and adds every chunk it keeps; a chunk that would go over the limit makes
 * the message refused with 452 4.3.1 once its data has been read (the bytes it held are
 * given back at once, so the others can finish), and a MAIL FROM is refused the same way
 * while the budget is full or its declared SIZE does not fit. The client keeps the
 * message and retries: nothing accepted is lost, nothing is accepted that could not be
 * held.
 */
export interface Reservation {
  /** Adds bytes to the message; false (and nothing added) when they do not fit. */
  add(bytes: number): boolean;
  /** Gives every byte of the message back; safe to call more than once. */
  release(): void;
}

export interface InflightBudget {
  readonly limit: number;
  readonly held: number;
  /** Whether a new transaction declaring `bytes` (0: unknown) may start now. */
  admits(bytes: number): boolean;
  reserve(): Reservation;
}

export function createInflightBudget(
  limit: number,
  /** Told the bytes held after every change (for the gauge). */
  onChange: (held: number) => void = () => undefined,
): InflightBudget {
  let held = 0;
  return {
    limit,
    get held() {
      return held;
    },

    admits(bytes) {
      return held < limit && held + bytes <= limit;
    },

    reserve() {
      let mine = 0;
      return {
        add(bytes) {
          if (held + bytes > limit) return false;
          held += bytes;
          mine += bytes;
          onChange(held);
          return true;
        },
        release() {
          if (mine === 0) return;
          held -= mine;
          mine = 0;
          onChange(held);
        },
      };
    },
  };
}
