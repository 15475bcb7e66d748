/**
 * The scheduler: turns accepted envelopes into delivery items (one per destination domain
 * and part), releases due items to the sender that owns the chosen IP as the pool's
 * shaping allows (admission.ts), and turns the senders' results into events, retries,
 * suppressions and DSNs. Three durable consumers, shared by every replica; all shared
 * limits live in Redis and change only inside atomic scripts.
 */

import {
  type BodyStore,
  CONSUMERS,
  type ConsumerLoop,
  createSuppressionList,
  ensureConsumer,
  type Logger,
  type NatsHandles,
  type PoolDirectory,
  STREAMS,
  startConsumerLoop,
} from '@hikyaku/core';
import type { JsMsg } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { type Admission, createShapingAdmission } from './admission.ts';
import { type Clock, clockFrom, systemClock } from './clock.ts';
import { rateWindowMs, type SchedulerConfig } from './config.ts';
import { createDestinations } from './destinations.ts';
import { createDsnMailer } from './dsn-mailer.ts';
import { createEnvelopeHandler } from './envelope-stage.ts';
import { createEventPublisher } from './events.ts';
import { createSchedulerMetrics } from './metrics.ts';
import { createMxLookup, type MxLookup } from './mx-hosts.ts';
import { createParking } from './parking.ts';
import type { SchedulerParts } from './parts.ts';
import { createQueueHandler } from './queue-stage.ts';
import { createResultHandler } from './result-stage.ts';
import { createThrottleStore } from './throttles.ts';
import { createMessageTracker } from './tracker.ts';
import { createWarmupCaps } from './warmup-caps.ts';

export interface Scheduler {
  stop(): Promise<void>;
}

/** How often recovered throttle states are swept out of Redis (real time). */
const SWEEP_EVERY_MS = 60_000;

export async function startScheduler(deps: {
  config: SchedulerConfig;
  nats: NatsHandles;
  redis: Redis;
  pools: PoolDirectory;
  bodies: BodyStore;
  log: Logger;
  registry: Registry;
  /** The scheduler's time; a test clock lets days pass in seconds. */
  clock?: Clock;
  /** Shorthand for a real-speed clock reading this function. */
  now?: () => number;
  rng?: () => number;
  /** Replaces shaping (tests of other parts); the default is createShapingAdmission. */
  admission?: Admission;
  mx?: MxLookup;
}): Promise<Scheduler> {
  const { config, nats, redis, pools, log } = deps;
  const clock = deps.clock ?? (deps.now ? clockFrom(deps.now) : systemClock);
  const mx =
    deps.mx ??
    createMxLookup({
      servers: config.dnsServers,
      timeoutMs: config.dnsTimeoutMs,
      now: () => clock.now(),
    });
  const destinations = createDestinations(mx);
  const parking = createParking(redis);
  const throttles = createThrottleStore(redis);
  const rng = deps.rng ?? Math.random;
  const admission =
    deps.admission ??
    createShapingAdmission({
      redis,
      destinations,
      throttles,
      caps: createWarmupCaps(redis, () => performance.now()),
      parking,
      windowMs: rateWindowMs(config),
      rng,
    });
  const parts: SchedulerParts = {
    config,
    nats,
    redis,
    pools,
    bodies: deps.bodies,
    clock,
    rng,
    log,
    admission,
    destinations,
    parking,
    throttles,
    suppressions: createSuppressionList(redis),
    dsn: createDsnMailer({
      js: nats.js,
      bodies: deps.bodies,
      reportingMta: config.reportingMta,
      rng,
      log,
    }),
    events: createEventPublisher(nats.js),
    tracker: createMessageTracker(redis),
    metrics: createSchedulerMetrics({
      registry: deps.registry,
      redis,
      pools,
      destinations,
      now: () => clock.now(),
    }),
  };

  await ensureConsumer(nats.jsm, STREAMS.envelopes, CONSUMERS.schedulerEnvelopes, {
    ackWaitMs: 30_000,
    maxAckPending: config.concurrency * 4,
  });
  // Parked items stay pending on this consumer: its limit must exceed what can be parked.
  await ensureConsumer(nats.jsm, STREAMS.queue, CONSUMERS.schedulerQueue, {
    ackWaitMs: 30_000,
    maxAckPending: config.maxParked,
  });
  await ensureConsumer(nats.jsm, STREAMS.results, CONSUMERS.schedulerResults, {
    ackWaitMs: 30_000,
    maxAckPending: config.concurrency * 4,
  });

  const loop = (stream: string, durable: string, handle: (msg: JsMsg) => Promise<void>) =>
    startConsumerLoop({
      js: nats.js,
      stream,
      durable,
      concurrency: config.concurrency,
      log,
      handle,
    });
  const loops: ConsumerLoop[] = await Promise.all([
    loop(STREAMS.envelopes, CONSUMERS.schedulerEnvelopes, createEnvelopeHandler(parts)),
    loop(STREAMS.queue, CONSUMERS.schedulerQueue, createQueueHandler(parts)),
    loop(STREAMS.results, CONSUMERS.schedulerResults, createResultHandler(parts)),
  ]);

  const sweeper = setInterval(() => {
    for (const pool of pools.all()) {
      throttles.sweep(pool.key, clock.now()).catch((err: unknown) => {
        log.warn({ err, pool: pool.key }, 'could not sweep throttle states');
      });
    }
  }, SWEEP_EVERY_MS);
  sweeper.unref();

  return {
    async stop() {
      clearInterval(sweeper);
      await Promise.all(loops.map((l) => l.stop()));
      mx.close();
    },
  };
}
