/**
 * Results of deliveries that are not recorded yet. Each is first handed to a scheduler
 * directly (result-handoff.ts); what no scheduler took is stored in HIKYAKU_RESULTS. Once a receiver has taken a message, the
 * job must not be delivered again just because its result could not be published (JetStream
 * out of space, no quorum): the result is kept here by job id until it is stored, publishing
 * is retried with a growing pause, a redelivered job whose result is kept is stored instead
 * of delivered, and while results fail to be stored no new delivery starts — each would
 * only add a result that cannot be stored either.
 *
 * The results are kept in this process: a sender restarted while its results cannot be
 * stored delivers those jobs once more (at-least-once, docs/design.md).
 */
import type { JobResult, Logger } from '@hikyaku/core';
import { HandBackError } from './errors.ts';
import type { HandOff } from './result-handoff.ts';

export interface ResultOutbox {
  /** The kept result of a job this process delivered but could not store yet. */
  pending(jobId: string): JobResult | undefined;
  /**
   * Resolves at once while results are being stored; while storing fails, once a result
   * was stored again. Rejects with a HandBackError when the sender stops meanwhile.
   */
  whenStoring(signal: AbortSignal, stopping: () => boolean): Promise<void>;
  /**
   * Hands the result to a scheduler, or else publishes it, retrying until it is stored;
   * the result is kept meanwhile. Rejects with the signal's reason when it aborts (the
   * result stays kept). Resolves `acked` when the scheduler acknowledged the job as well
   * (given its acknowledgement subject `jobAck`), else `stored`: the job is the caller's
   * to acknowledge.
   */
  store(result: JobResult, signal: AbortSignal, jobAck?: string): Promise<'acked' | 'stored'>;
  /** Results kept now. */
  readonly size: number;
  /** Since an attempt to store a result failed, until one is stored: see whenStoring. */
  readonly failing: boolean;
}

export interface ResultOutboxOptions {
  /** Stores the result in HIKYAKU_RESULTS; rejects when it is not stored. */
  publish: (result: JobResult) => Promise<void>;
  /**
   * Hands the result to a scheduler directly, tried once before the stream: how the
   * scheduler took it (result-handoff.ts), or false to store it instead.
   */
  handOff?: HandOff;
  log: Logger;
  /** Called for every failed attempt to store a result. */
  onFailure?: (result: JobResult, err: unknown) => void;
  /** First pause between attempts; it doubles up to `maxRetryMs`. */
  minRetryMs?: number;
  maxRetryMs?: number;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The work's outcome, or the signal's reason once it aborts (the work goes on unheeded). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}

export function createResultOutbox(options: ResultOutboxOptions): ResultOutbox {
  const { log } = options;
  const minRetryMs = options.minRetryMs ?? 500;
  const maxRetryMs = options.maxRetryMs ?? 10_000;
  const kept = new Map<string, JobResult>();
  /** Since the last attempt to store a result failed, until one succeeds. */
  let failing = false;

  function failed(result: JobResult, err: unknown): void {
    options.onFailure?.(result, err);
    if (failing) return;
    failing = true;
    log.error(
      { err, jobId: result.job.jobId, code: 'HIKYAKU_RESULT_NOT_STORED' },
      'cannot store delivery results; no new delivery starts until they are stored',
    );
  }

  function stored(): void {
    if (!failing) return;
    failing = false;
    log.info({ kept: kept.size }, 'delivery results are stored again');
  }

  return {
    pending: (jobId) => kept.get(jobId),
    get size() {
      return kept.size;
    },
    get failing() {
      return failing;
    },

    async whenStoring(signal, stopping) {
      let wait = minRetryMs;
      while (failing) {
        if (signal.aborted) throw signal.reason;
        if (stopping()) throw new HandBackError('the sender is shutting down');
        await pause(wait, signal);
        wait = Math.min(wait * 2, maxRetryMs);
      }
    },

    async store(result, signal, jobAck) {
      const jobId = result.job.jobId;
      kept.set(jobId, result);
      const taken = options.handOff
        ? await untilAborted(options.handOff(result, jobAck), signal)
        : false;
      if (taken) {
        kept.delete(jobId);
        return taken === 'acked' ? 'acked' : 'stored';
      }
      let wait = minRetryMs;
      for (;;) {
        if (signal.aborted) throw signal.reason;
        try {
          await options.publish(result);
          kept.delete(jobId);
          stored();
          return 'stored';
        } catch (err) {
          failed(result, err);
        }
        await pause(wait, signal);
        wait = Math.min(wait * 2, maxRetryMs);
      }
    },
  };
}
