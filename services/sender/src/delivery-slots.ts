/**
 * The delivery slots of one IP: how many of its jobs are delivered at once, from reading
 * the body until the outcome is known. A job waits for a slot in arrival order. The sender
 * holds more jobs than it has slots (sender.ts, JOBS_HELD_PER_SLOT): a job waiting for a
 * slot, or for the scheduler to record its result, holds no body and no connection, and
 * reports progress like any other, so it cannot outlive its ack wait while it waits.
 */

export interface DeliverySlots {
  /**
   * Resolves with the slot's release once one is free; rejects with the signal's reason
   * when it aborts first, or with the drain's error once the slots are drained.
   */
  acquire(signal: AbortSignal): Promise<() => void>;
  /** Rejects every waiting job and every later acquire with `err` (the sender stops). */
  drain(err: Error): void;
  /** Jobs being delivered now. */
  readonly busy: number;
  /** Jobs waiting for a slot now. */
  readonly waiting: number;
}

interface Waiter {
  resolve(release: () => void): void;
  reject(err: unknown): void;
}

export function createDeliverySlots(size: number): DeliverySlots {
  let busy = 0;
  const waiters: Waiter[] = [];
  let drained: Error | undefined;

  function release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiters.shift();
      // The slot passes straight to the next waiter: busy stays as it is.
      if (next) next.resolve(release());
      else busy--;
    };
  }

  return {
    get busy() {
      return busy;
    },
    get waiting() {
      return waiters.length;
    },
    acquire(signal) {
      if (drained) return Promise.reject(drained);
      if (signal.aborted) return Promise.reject(signal.reason);
      if (busy < size) {
        busy++;
        return Promise.resolve(release());
      }
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          resolve: (slot) => {
            signal.removeEventListener('abort', abort);
            resolve(slot);
          },
          reject: (err) => {
            signal.removeEventListener('abort', abort);
            reject(err);
          },
        };
        const abort = (): void => {
          const at = waiters.indexOf(waiter);
          if (at >= 0) waiters.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', abort, { once: true });
        waiters.push(waiter);
      });
    },
    drain(err) {
      drained = err;
      for (const waiter of waiters.splice(0)) waiter.reject(err);
    },
  };
}
