/**
 * Watches a durable consumer of a work-queue stream for messages it has stranded (see
 * stranded-consumer.ts) and recreates it with the same configuration, delivering from the
 * first message the stream still holds. Run by the service that owns the consumer, beside
 * its consumer loop, which pulls again once the consumer is new.
 */
import { type ConsumerConfig, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { Counter, type Registry } from 'prom-client';
import { METRICS } from './contract/metrics.ts';
import type { Logger } from './log.ts';
import { type ConsumerObservation, shouldRecreate } from './stranded-consumer.ts';

/** How often a consumer is checked by default; two checks in a row must agree. */
export const CONSUMER_WATCHDOG_INTERVAL_MS = 10_000;

export interface ConsumerWatchdogOptions {
  jsm: JetStreamManager;
  stream: string;
  durable: string;
  /** The consumer's filter subject, or the stream's subjects when it has none. */
  subject: string;
  intervalMs: number;
  log: Logger;
  /** After the consumer was recreated: its loop must pull from the new one. */
  onRecreated: () => void;
}

export interface ConsumerWatchdog {
  stop(): Promise<void>;
}

export async function observeConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  subject: string,
): Promise<ConsumerObservation> {
  const info = await jsm.consumers.info(stream, durable);
  // nats-server 2.9 answers "the first message on or after seq on this subject" (next_by_subj)
  // on the stream leader; the client passes the request through as it is.
  const query = { seq: 1, next_by_subj: subject };
  const first = await jsm.streams.getMessage(stream, query);
  return {
    created: info.created,
    numPending: info.num_pending,
    numAckPending: info.num_ack_pending,
    deliveredStreamSeq: info.delivered.stream_seq,
    firstSeqOnSubject: first?.seq,
  };
}

/** The consumer's configuration for its replacement: delivering from the first message left. */
export function replacementConfig(config: ConsumerConfig): ConsumerConfig {
  const { opt_start_seq: _seq, opt_start_time: _time, ...rest } = config;
  // On a work-queue stream every message left is one not yet acknowledged.
  return { ...rest, deliver_policy: DeliverPolicy.All };
}

/** Counts the consumers a service recreated, by stream and consumer. */
export function createConsumerWatchdogMetrics(registry: Registry): {
  recreated(stream: string, consumer: string): void;
} {
  const counter = new Counter({
    name: METRICS.consumerRecreated,
    help: 'Durable consumers recreated because they had stranded messages of their stream',
    labelNames: ['stream', 'consumer'],
    registers: [registry],
  });
  return { recreated: (stream, consumer) => counter.inc({ stream, consumer }) };
}

export function startConsumerWatchdog(options: ConsumerWatchdogOptions): ConsumerWatchdog {
  const { jsm, stream, durable, subject, log } = options;
  let previous: ConsumerObservation | undefined;
  // Deleted, and its add not answered: added again before anything else.
  let missing: ConsumerConfig | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  const add = async (config: ConsumerConfig): Promise<void> => {
    missing = config;
    try {
      await jsm.consumers.add(stream, config);
    } catch (err) {
      // Another replica of the service added it meanwhile.
      if (!/already in use|exists/i.test(String(err))) throw err;
    }
    missing = undefined;
    log.warn(
      { code: 'HIKYAKU_CONSUMER_RECREATED', stream, consumer: durable },
      'consumer recreated',
    );
    options.onRecreated();
  };

  const check = async (): Promise<void> => {
    if (missing) await add(missing);
    const current = await observeConsumer(jsm, stream, durable, subject);
    if (!shouldRecreate(previous, current)) {
      previous = current;
      return;
    }
    previous = undefined;
    const info = await jsm.consumers.info(stream, durable);
    // Recreated by another replica of the service since this check read it.
    if (info.created !== current.created) return;
    log.warn(
      {
        code: 'HIKYAKU_CONSUMER_STRANDED',
        stream,
        consumer: durable,
        seq: current.firstSeqOnSubject,
        deliveredSeq: current.deliveredStreamSeq,
      },
      'consumer lost track of messages its stream holds; recreating it',
    );
    const config = replacementConfig(info.config);
    await jsm.consumers.delete(stream, durable);
    await add(config);
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = check()
        .catch((err: unknown) => {
          // A cluster without quorum does not answer; the next check tries again.
          if (!stopped) log.debug({ err, stream, consumer: durable }, 'consumer check failed');
        })
        .finally(schedule);
    }, options.intervalMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
