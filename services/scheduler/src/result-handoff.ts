/**
 * Serves the senders' result hand-offs: one subscription per scheduler process on every
 * pool's hand-off subject, in a queue group, so each hand-off goes to one scheduler.
 * At most `concurrency` results are recorded at once, as for the results stream; up to
 * `waiting` more wait their turn in this process, and a hand-off beyond those is turned
 * away at once (the sender stores it in HIKYAKU_RESULTS instead of waiting out its
 * timeout behind a backlog). Stopping stops taking hand-offs and answers every one taken.
 * With a gathering window (`gatherMs`), hand-offs that arrive within that time of the first
 * one start together, in one turn, so their Redis batches, events and acknowledgements share
 * writes (as the consumer loops do: consume.ts).
 */
import { handoffReplies, type Logger, QUEUE_GROUPS, SUBJECTS } from '@hikyaku/core';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { SchedulerError } from './errors.ts';

export interface HandoffServer {
  stop(): Promise<void>;
}

export function serveResultHandoffs(deps: {
  nc: NatsConnection;
  handle: (msg: Msg) => Promise<void>;
  concurrency: number;
  waiting: number;
  /** How long hand-offs are gathered after the first one before they start; 0: at once. */
  gatherMs?: number;
  log: Logger;
}): HandoffServer {
  const { nc, handle, log } = deps;
  const gatherMs = deps.gatherMs ?? 0;
  const queue: Msg[] = [];
  const running = new Set<Promise<void>>();
  let idle: (() => void) | undefined;
  let gatherTimer: ReturnType<typeof setTimeout> | undefined;

  function next(): void {
    clearTimeout(gatherTimer);
    gatherTimer = undefined;
    while (running.size < deps.concurrency) {
      const msg = queue.shift();
      if (!msg) break;
      const work = handle(msg)
        .catch((err: unknown) => {
          // handle answers its own failures; this is a reply that could not be sent.
          log.warn({ err }, 'could not answer a result hand-off');
        })
        .finally(() => {
          running.delete(work);
          next();
        });
      running.add(work);
    }
    if (running.size === 0 && queue.length === 0) idle?.();
  }

  const sub: Subscription = nc.subscribe(SUBJECTS.resultHandoffAll, {
    queue: QUEUE_GROUPS.resultHandoff,
    callback: (err, msg) => {
      if (err) {
        log.warn({ err }, 'result hand-off subscription failed');
        return;
      }
      if (queue.length >= deps.waiting) {
        const busy = new SchedulerError(
          'HIKYAKU_HANDOFF_BUSY',
          `${queue.length} handed-off results wait already`,
        );
        msg.respond(handoffReplies.error(busy.code, busy.message));
        return;
      }
      queue.push(msg);
      if (gatherMs === 0 || running.size + queue.length >= deps.concurrency) next();
      else gatherTimer ??= setTimeout(next, gatherMs);
    },
  });

  return {
    async stop() {
      // Hand-offs the server already sent this process are still taken and answered.
      await sub.drain().catch((err: unknown) => {
        log.warn({ err }, 'could not drain the result hand-off subscription');
      });
      // Gathered hand-offs start now rather than at the end of their window.
      if (gatherTimer) next();
      if (running.size > 0 || queue.length > 0) {
        await new Promise<void>((resolve) => {
          idle = resolve;
        });
      }
    },
  };
}
