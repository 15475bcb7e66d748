/**
 * The reconcile work queue, keyed by namespace/name. A key is never processed by two
 * workers at once: one added while it is being processed is processed again afterwards,
 * once, however often it was added meanwhile. A failed key is retried with exponential
 * back-off (with jitter, so that many pools failing together do not retry together); a
 * success resets its back-off. Processing runs only while the queue is started, which the
 * operator ties to holding the leader Lease.
 */
import type { Logger } from '@hikyaku/core';

export interface ProcessResult {
  /** Process the key again after this long (e.g. while an IP drains). */
  requeueAfterMs?: number;
  /** Nothing needed doing. */
  skipped?: boolean;
}

export type QueueOutcome = 'success' | 'skipped' | 'requeue' | 'error';

export interface WorkQueueOptions {
  workers: number;
  retryBaseMs: number;
  retryMaxMs: number;
  process(key: string): Promise<ProcessResult | undefined>;
  log: Logger;
  onOutcome?(outcome: QueueOutcome, key: string, seconds: number): void;
}

export interface WorkQueue {
  add(key: string): void;
  addAfter(key: string, delayMs: number): void;
  /** Keys waiting (not counting delayed ones). */
  depth(): number;
  /** Consecutive failures of a key. */
  failures(key: string): number;
  start(): void;
  /** Stops taking keys and waits for the ones in progress; pending keys are kept. */
  pause(): Promise<void>;
  /** pause(), and drops every delayed key. */
  stop(): Promise<void>;
}

/** Exponential back-off: base * 2^(attempt-1), capped, with up to 20% jitter. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(raw * (0.8 + Math.random() * 0.2));
}

export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const pending: string[] = [];
  const queued = new Set<string>();
  const processing = new Set<string>();
  const dirty = new Set<string>();
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  const failureCounts = new Map<string, number>();
  let running = false;
  let active = 0;
  let idleWaiters: (() => void)[] = [];

  const pump = () => {
    while (running && active < options.workers) {
      const index = pending.findIndex((k) => !processing.has(k));
      if (index < 0) return;
      const [key] = pending.splice(index, 1) as [string];
      queued.delete(key);
      processing.add(key);
      active += 1;
      void work(key);
    }
  };

  async function work(key: string): Promise<void> {
    const started = performance.now();
    let outcome: QueueOutcome;
    try {
      const result = await options.process(key);
      failureCounts.delete(key);
      if (result?.requeueAfterMs !== undefined) {
        outcome = 'requeue';
        queue.addAfter(key, result.requeueAfterMs);
      } else {
        outcome = result?.skipped ? 'skipped' : 'success';
      }
    } catch (err) {
      outcome = 'error';
      const attempt = (failureCounts.get(key) ?? 0) + 1;
      failureCounts.set(key, attempt);
      const delay = backoffDelay(attempt, options.retryBaseMs, options.retryMaxMs);
      options.log.warn({ err, key, attempt, retryInMs: delay }, 'reconcile failed; will retry');
      queue.addAfter(key, delay);
    }
    options.onOutcome?.(outcome, key, (performance.now() - started) / 1000);
    processing.delete(key);
    active -= 1;
    if (dirty.delete(key)) queue.add(key);
    if (active === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
    pump();
  }

  const queue: WorkQueue = {
    add(key) {
      if (processing.has(key)) {
        dirty.add(key);
        return;
      }
      if (queued.has(key)) return;
      queued.add(key);
      pending.push(key);
      pump();
    },
    addAfter(key, delayMs) {
      if (delayMs <= 0) {
        queue.add(key);
        return;
      }
      const at = Date.now() + delayMs;
      const existing = timers.get(key);
      if (existing && existing.at <= at) return;
      if (existing) clearTimeout(existing.timer);
      const timer = setTimeout(() => {
        timers.delete(key);
        queue.add(key);
      }, delayMs);
      timers.set(key, { at, timer });
    },
    depth: () => pending.length,
    failures: (key) => failureCounts.get(key) ?? 0,
    start() {
      running = true;
      pump();
    },
    async pause() {
      running = false;
      if (active > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    async stop() {
      for (const { timer } of timers.values()) clearTimeout(timer);
      timers.clear();
      await queue.pause();
    },
  };
  return queue;
}
