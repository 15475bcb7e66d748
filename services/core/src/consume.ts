/**
 * A bounded-concurrency loop over a durable pull consumer. The handler must end every
 * message with ack, nak(delay) or term; if it throws, the message is handed back with a
 * delay so a poison message cannot spin. Stopping stops the pull, lets handlers in flight
 * finish, and leaves anything unacknowledged to JetStream's redelivery.
 *
 * The ack, nak and term a handler gives leave with everything else the process sends in
 * that turn of the event loop, in one socket write at its end (nats-turn-writes.ts), not
 * one write (and one wake-up of nats-server) each. A handler acks only after its outputs
 * are stored, so a write at the end of the turn keeps that rule; a crash in between leaves
 * the message to redelivery, as a crash just before the ack would.
 *
 * With a gathering window (`gatherMs`), the loop holds the messages that arrive within that
 * time of the first one and starts their handlers together, in one turn. A relay fed one
 * message at a time (a client that opens a connection per message, a lightly loaded pool)
 * would otherwise handle one message per wake-up at every stage: started together, the
 * messages' Redis calls, publishes and acks share writes, and the stages behind see them
 * arrive together too (docs/performance.md, "Gathering before a stage").
 */
import type {
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from '@nats-io/jetstream';
import { type ConsumerWatchdog, startConsumerWatchdog } from './consumer-watchdog.ts';
import type { Logger } from './log.ts';

/**
 * How long one pull request waits on the server. When a consumer's leader moves to another
 * node (a node lost or restarted in a cluster), nats-server 2.9 drops the pull requests
 * waiting on the old leader without a word; the client notices only when two idle
 * heartbeats (half this time each) are missed, and pulls again. With the client's default
 * of 30 s a consumer sat idle for 44 s after its leader's node restarted; with 10 s, 14 s
 * — at the cost of one pull request per consumer every 10 s while idle.
 */
const PULL_EXPIRES_MS = 10_000;

export interface ConsumerLoop {
  stop(): Promise<void>;
  readonly inFlight: number;
}

export async function startConsumerLoop(options: {
  js: JetStreamClient;
  stream: string;
  durable: string;
  concurrency: number;
  log: Logger;
  handle: (msg: JsMsg) => Promise<void>;
  /** Delay before a message whose handler threw is redelivered. */
  errorDelayMs?: number;
  /**
   * How long messages are gathered after the first one arrives before their handlers start
   * together; 0 (the default) starts each at once. Gathered messages count toward
   * `concurrency`; reaching it starts them at once.
   */
  gatherMs?: number;
  /**
   * Watch the consumer for messages of its work-queue stream it has lost track of, and
   * recreate it (consumer-watchdog.ts); `recreated` is called each time it was.
   */
  watchdog?: {
    jsm: JetStreamManager;
    /** The consumer's filter subject, or the stream's subjects. */
    subject: string;
    intervalMs: number;
    recreated: () => void;
  };
}): Promise<ConsumerLoop> {
  const { log } = options;
  const consumer = await options.js.consumers.get(options.stream, options.durable);
  const inflight = new Set<Promise<void>>();
  const gatherMs = options.gatherMs ?? 0;
  /** Messages received and not yet started, while a gathering window is open. */
  let gathered: JsMsg[] = [];
  let gatherTimer: ReturnType<typeof setTimeout> | undefined;
  let stopping = false;
  let messages: ConsumerMessages | undefined;

  function start(msg: JsMsg): void {
    const task: Promise<void> = options
      .handle(msg)
      .catch((err: unknown) => {
        log.error({ err, subject: msg.subject, seq: msg.seq }, 'handler failed; redelivering');
        msg.nak(options.errorDelayMs ?? 5000);
      })
      .finally(() => {
        inflight.delete(task);
      });
    inflight.add(task);
  }

  function startGathered(): void {
    clearTimeout(gatherTimer);
    gatherTimer = undefined;
    const batch = gathered;
    gathered = [];
    for (const msg of batch) start(msg);
  }

  const loop = (async () => {
    while (!stopping) {
      try {
        messages = await consumer.consume({
          max_messages: Math.max(options.concurrency, 1),
          expires: PULL_EXPIRES_MS,
        });
        for await (const msg of messages) {
          if (stopping) {
            msg.nak();
            continue;
          }
          if (gatherMs > 0) {
            gathered.push(msg);
            if (inflight.size + gathered.length >= options.concurrency) startGathered();
            else gatherTimer ??= setTimeout(startGathered, gatherMs);
          } else {
            start(msg);
          }
          if (inflight.size >= options.concurrency) await Promise.race(inflight);
        }
      } catch (err) {
        if (stopping) break;
        log.warn({ err, durable: options.durable }, 'consumer interrupted; resuming');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  })();

  const watchdog: ConsumerWatchdog | undefined = options.watchdog
    ? startConsumerWatchdog({
        jsm: options.watchdog.jsm,
        stream: options.stream,
        durable: options.durable,
        subject: options.watchdog.subject,
        intervalMs: options.watchdog.intervalMs,
        log,
        onRecreated: () => {
          options.watchdog?.recreated();
          // The pull in progress belongs to the deleted consumer: pull again from the new one.
          void messages?.close();
        },
      })
    : undefined;

  return {
    get inFlight() {
      return inflight.size;
    },
    async stop() {
      stopping = true;
      clearTimeout(gatherTimer);
      gatherTimer = undefined;
      await watchdog?.stop();
      await messages?.close();
      // Gathered messages were not started: handed back at once, once the pull is closed, so
      // that they are delivered again to another pull rather than into this one.
      for (const msg of gathered) msg.nak();
      gathered = [];
      await Promise.allSettled([...inflight]);
      await loop.catch(() => undefined);
    },
  };
}
