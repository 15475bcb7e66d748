/**
 * The scheduler: turns accepted envelopes into delivery items (one per destination domain
 * and part), releases due items to the sender that owns the chosen IP as the pool's
 * shaping allows (admission.ts), turns the senders' results into events, retries,
 * suppressions and DSNs, and the feedback that comes back by mail (late bounces,
 * complaints) into the same (feedback-stage.ts). Five durable consumers (envelopes are read
 * from two streams), shared by every replica, and a queue-group subscription for results
 * senders hand over directly; all shared limits live in Redis and change only inside
 * atomic scripts.
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type BodyStore,
  CONSUMERS,
  type ConsumerLoop,
  createConsumerWatchdogMetrics,
  createSuppressionList,
  ensureConsumer,
  type Logger,
  type NatsHandles,
  openReputationStore,
  openSourceReports,
  type PoolDirectory,
  STREAMS,
  SUBJECTS,
  startConsumerLoop,
} from '@hikyaku/core';
import type { JsMsg } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { type Admission, createShapingAdmission } from './admission.ts';
import { withAttemptLog } from './attempt-log.ts';
import { createBodyEnds, startBodyPurger, withEndedBodies } from './body-purge.ts';
import { type Clock, clockFrom, systemClock } from './clock.ts';
import { createComplaintHolds, SUBMITTER_SCOPE } from './complaint-holds.ts';
import { createComplaintReview } from './complaint-review.ts';
import { rateWindowMs, resolveSchedulerConfig, type SchedulerSettings } from './config.ts';
import { createCachedDestinationHolds } from './destination-holds.ts';
import { createDestinations } from './destinations.ts';
import { createDsnMailer } from './dsn-mailer.ts';
import { createBodyEnvelopeHandler, createEnvelopeHandler } from './envelope-stage.ts';
import { createEventPublisher } from './events.ts';
import { createFeedbackHandler } from './feedback-stage.ts';
import { createMessageSubmitters } from './message-submitters.ts';
import { createSchedulerMetrics } from './metrics.ts';
import { createMxLookup, type MxLookup } from './mx-hosts.ts';
import { createParking } from './parking.ts';
import type { SchedulerParts } from './parts.ts';
import { createQueueHandler } from './queue-stage.ts';
import { createReputationDns } from './reputation/dns-checks.ts';
import { type ReputationGuard, startReputationGuard } from './reputation/guard.ts';
import { createReputationMetrics } from './reputation/metrics.ts';
import { withPausedIps } from './reputation/paused-view.ts';
import { createVerdictCounter } from './reputation/verdicts.ts';
import { serveResultHandoffs } from './result-handoff.ts';
import {
  createHandoffHandler,
  createResultHandler,
  createResultProcessor,
} from './result-stage.ts';
import { createThrottleStore } from './throttles.ts';
import { createMessageTracker } from './tracker.ts';
import { createWarmupCaps } from './warmup-caps.ts';

export interface Scheduler {
  stop(): Promise<void>;
}

export async function startScheduler(deps: {
  config: SchedulerSettings;
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
  const { nats, redis, log } = deps;
  const config = await resolveSchedulerConfig(deps.config, nats.js, log);
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
  // IPs the reputation guard paused take no new jobs: the stages see them as draining.
  const verdicts = createVerdictCounter(redis);
  let guard: ReputationGuard | undefined;
  const pools = withPausedIps(deps.pools, (pool) => guard?.paused(pool) ?? new Set<string>());
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
  // With purges, a message's end records its body for the purger instead of removing it.
  const bodyEnds = config.bodyRemoval === 'purge' ? createBodyEnds(redis) : undefined;
  const parts: SchedulerParts = {
    config,
    nats,
    redis,
    pools,
    bodies: bodyEnds ? withEndedBodies(deps.bodies, bodyEnds, nats.jsm) : deps.bodies,
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
      wireVersion: config.wireVersion,
    }),
    events: withAttemptLog(
      createEventPublisher(nats.js, nats.nc, { progress: config.progressEvents }),
      log,
      config.logRecipients,
    ),
    tracker: createMessageTracker(redis),
    ...(bodyEnds ? { bodyEnds } : {}),
    holds: createComplaintHolds(redis),
    submitterHolds: createComplaintHolds(redis, SUBMITTER_SCOPE),
    messageSubmitters: createMessageSubmitters(redis),
    destinationHolds: createCachedDestinationHolds(redis),
    metrics: createSchedulerMetrics({
      registry: deps.registry,
      redis,
      pools: deps.pools,
      destinations,
      now: () => clock.now(),
    }),
    verdicts,
  };
  guard = await startReputationGuard({
    store: await openReputationStore(nats.js, config.streamReplicas),
    pools: deps.pools,
    verdicts,
    dns: createReputationDns({
      servers: config.reputationDnsServers,
      timeoutMs: config.dnsTimeoutMs,
    }),
    now: () => clock.now(),
    rng,
    log,
    metrics: createReputationMetrics({
      registry: deps.registry,
      snapshot: () => guard?.snapshot() ?? [],
    }),
    tickMs: config.reputationTickMs,
  });

  await ensureConsumer(nats.jsm, STREAMS.envelopes, CONSUMERS.schedulerEnvelopes, {
    ackWaitMs: 30_000,
    maxAckPending: config.concurrency * 4,
  });
  // Envelopes stored in their body's message. From the stream's first message, not only
  // new ones: an ingress may have written some before this consumer existed.
  await ensureConsumer(nats.jsm, STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes, {
    filterSubject: SUBJECTS.bodyAll,
    ackWaitMs: 30_000,
    maxAckPending: config.concurrency * 4,
    headersOnly: true,
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
  await ensureConsumer(nats.jsm, STREAMS.feedback, CONSUMERS.schedulerFeedback, {
    ackWaitMs: 30_000,
    maxAckPending: config.concurrency * 4,
  });

  const watchdogMetrics = createConsumerWatchdogMetrics(deps.registry);
  const processResult = createResultProcessor(parts);
  const loop = (
    stream: string,
    subject: string | undefined,
    durable: string,
    handle: (msg: JsMsg) => Promise<void>,
    gatherMs = 0,
  ) =>
    startConsumerLoop({
      js: nats.js,
      stream,
      durable,
      concurrency: config.concurrency,
      log,
      handle,
      gatherMs,
      ...(subject === undefined
        ? {}
        : {
            watchdog: {
              jsm: nats.jsm,
              subject,
              intervalMs: config.consumerWatchdogMs,
              recreated: () => watchdogMetrics.recreated(stream, durable),
            },
          }),
    });
  // New mail is gathered for a moment before it is split (config.gatherMs); retries, parked
  // items, stored results and feedback are started as they come, their timing being theirs.
  const loops: ConsumerLoop[] = await Promise.all([
    loop(
      STREAMS.envelopes,
      SUBJECTS.envelopeAll,
      CONSUMERS.schedulerEnvelopes,
      createEnvelopeHandler(parts),
      config.gatherMs,
    ),
    // No watchdog: it looks for messages a consumer of a work-queue stream has passed
    // without their being acknowledged, since there every message left is one still owed.
    // The bodies stream keeps its messages after the acknowledgement (until the delivery
    // ends), so every body there would look stranded, and recreating the consumer would
    // hand each envelope in it out again.
    loop(
      STREAMS.bodies,
      undefined,
      CONSUMERS.schedulerBodyEnvelopes,
      createBodyEnvelopeHandler(parts),
      config.gatherMs,
    ),
    loop(STREAMS.queue, SUBJECTS.queueAll, CONSUMERS.schedulerQueue, createQueueHandler(parts)),
    loop(
      STREAMS.results,
      SUBJECTS.resultAll,
      CONSUMERS.schedulerResults,
      createResultHandler(parts, processResult),
    ),
    loop(
      STREAMS.feedback,
      SUBJECTS.feedbackAll,
      CONSUMERS.schedulerFeedback,
      createFeedbackHandler(parts),
    ),
  ]);

  // Senders of this release hand results over here first; HIKYAKU_RESULTS (above) takes
  // what they could not hand over and what senders of earlier releases store.
  const handoffs = serveResultHandoffs({
    nc: nats.nc,
    handle: createHandoffHandler(parts, processResult),
    concurrency: config.concurrency,
    waiting: config.concurrency * 4,
    // Half as long: a sender holds the job until the answer (20 ms measured no better:
    // docs/performance.md, "The sender's delivery slots and its jobs gathered").
    gatherMs: Math.floor(config.gatherMs / 2),
    log,
  });

  const reports = await openSourceReports(nats.js, config.streamReplicas);
  const reviewComplaints = createComplaintReview({
    holds: parts.holds,
    submitterHolds: parts.submitterHolds,
    metrics: parts.metrics,
    reports,
    clock,
  });
  const sweeper = setInterval(() => {
    for (const pool of pools.all()) {
      throttles.sweep(pool.key, clock.now()).catch((err: unknown) => {
        log.warn({ err, pool: pool.key }, 'could not sweep throttle states');
      });
      if (pool.feedback) {
        reviewComplaints(pool).catch((err: unknown) => {
          log.warn({ err, pool: pool.key }, 'could not review complaint rates');
        });
      }
    }
  }, config.sweepEveryMs);
  sweeper.unref();
  const purger = bodyEnds
    ? startBodyPurger({
        js: nats.js,
        jsm: nats.jsm,
        redis,
        ends: bodyEnds,
        log,
        instance: `${hostname()}:${process.pid}:${randomUUID()}`,
        intervalMs: config.bodyPurgeMs,
        keepMs: config.bodyKeepMs,
        metrics: parts.metrics,
      })
    : undefined;

  return {
    async stop() {
      clearInterval(sweeper);
      await purger?.stop();
      await guard?.stop();
      await handoffs.stop();
      await Promise.all(loops.map((l) => l.stop()));
      mx.close();
    },
  };
}
