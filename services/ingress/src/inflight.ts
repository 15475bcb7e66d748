/**
 * The bytes of message data the ingress holds at once, over every session and listener.
 * A message is held whole until JetStream has stored it, so without a bound N concurrent
 * messages of S bytes take N × S (and a copy of it) of memory.
 *
 * A transaction whose MAIL FROM declares its SIZE sets that much aside at MAIL FROM, and
 * is refused with 452 4.3.1 there when it does not fit: many clients starting at once are
 * admitted only as far as their messages fit, instead of all of them sharing the budget
 * until none can finish. The data then counts against what was set aside, and beyond it
 * against the budget; a chunk that does not fit makes the message refused with 452 4.3.1
 * once its data has been read (the bytes it held are given back at once, so the others
 * can finish). The client keeps the message and retries: nothing accepted is lost,
 * nothing is accepted that could not be held.
 */
export interface Reservation {
  /** Sets aside what the transaction declared; false (and nothing set aside) if it does not fit. */
  declare(bytes: number): boolean;
  /** Counts bytes of the message; false (and nothing counted) when they do not fit. */
  add(bytes: number): boolean;
  /** Gives every byte of the transaction back; safe to call more than once. */
  release(): void;
}

export interface InflightBudget {
  readonly limit: number;
  readonly held: number;
  /** Whether a new transaction may start now (the budget is not full). */
  admits(): boolean;
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

    admits() {
      return held < limit;
    },

    reserve() {
      // Bytes held for this transaction (set aside or used, whichever is more), and used.
      let mine = 0;
      let used = 0;
      function holdAtLeast(bytes: number): boolean {
        if (bytes <= mine) return true;
        if (held + bytes - mine > limit) return false;
        held += bytes - mine;
        mine = bytes;
        onChange(held);
        return true;
      }
      return {
        declare(bytes) {
          return holdAtLeast(bytes);
        },
        add(bytes) {
          if (!holdAtLeast(used + bytes)) return false;
          used += bytes;
          return true;
        },
        release() {
          used = 0;
          if (mine === 0) return;
          held -= mine;
          mine = 0;
          onChange(held);
        },
      };
    },
  };
}
