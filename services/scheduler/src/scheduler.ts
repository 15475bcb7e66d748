/**
 * The scheduler: turns accepted envelopes into delivery items (one per destination
 * domain), releases due items to the sender that owns the chosen IP, and turns the
 * senders' results into events, retries and bounces. Items that may not leave yet are
 * handed back to JetStream with a delay (nak), so they wait inside the server, not in this
 * process, and never block items for other destinations.
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import {
  type BodyStore,
  CONSUMERS,
  type CompiledPool,
  type ConsumerLoop,
  codecs,
  type DeliveryEvent,
  ensureConsumer,
  type Job,
  type JobResult,
  type Logger,
  METRICS,
  MSG_IDS,
  type NatsHandles,
  type PoolDirectory,
  type QueueItem,
  type RecipientOutcome,
  SchemaError,
  STREAMS,
  SUBJECTS,
  startConsumerLoop,
} from '../../core/src/index.ts';
import type { Admission } from './admission.ts';
import type { SchedulerConfig } from './config.ts';
import { createEventPublisher } from './events.ts';
import { planRetry } from './retry-plan.ts';
import { groupByDomain } from './split.ts';
import { createMessageTracker } from './tracker.ts';

export interface Scheduler {
  stop(): Promise<void>;
}

/** How long an item waits when its pool's policy is not known yet (KV not written). */
const UNKNOWN_POOL_DELAY_MS = 5000;

export async function startScheduler(deps: {
  config: SchedulerConfig;
  nats: NatsHandles;
  redis: Redis;
  pools: PoolDirectory;
  bodies: BodyStore;
  admission: Admission;
  log: Logger;
  registry: Registry;
  now?: () => number;
  rng?: () => number;
}): Promise<Scheduler> {
  const { config, nats, redis, pools, bodies, admission, log, registry } = deps;
  const now = deps.now ?? Date.now;
  const rng = deps.rng ?? Math.random;
  const events = createEventPublisher(nats.js);
  const tracker = createMessageTracker(redis);

  const metrics = {
    scheduled: new Counter({
      name: METRICS.schedulerScheduled,
      help: 'Delivery jobs handed to senders',
      labelNames: ['pool', 'ip', 'policy'],
      registers: [registry],
    }),
    deferred: new Counter({
      name: METRICS.schedulerDeferred,
      help: 'Delivery items held back, by reason',
      labelNames: ['pool', 'reason'],
      registers: [registry],
    }),
    outcomes: new Counter({
      name: METRICS.schedulerOutcomes,
      help: 'Recipient outcomes recorded, by type',
      labelNames: ['pool', 'type'],
      registers: [registry],
    }),
  };

  /** Undecodable input is a bug elsewhere: log it loudly and stop redelivering it. */
  function rejectMalformed(msg: JsMsg, err: unknown): void {
    log.error({ err, subject: msg.subject, seq: msg.seq }, 'dropping malformed message');
    msg.term(err instanceof SchemaError ? err.message : 'malformed');
  }

  function event(
    type: DeliveryEvent['type'],
    base: { id: string; pool: string; attempt?: number; ip?: string },
    rcpt: string,
    reply?: RecipientOutcome,
  ): DeliveryEvent {
    return {
      v: 1,
      type,
      id: base.id,
      pool: base.pool,
      rcpt,
      at: now(),
      ...(base.ip ? { ip: base.ip } : {}),
      ...(base.attempt !== undefined ? { attempt: base.attempt } : {}),
      ...(reply
        ? {
            reply: {
              code: reply.code,
              text: reply.text,
              ...(reply.enhanced ? { enhanced: reply.enhanced } : {}),
              ...(reply.remoteHost ? { remoteHost: reply.remoteHost } : {}),
            },
          }
        : {}),
    };
  }

  async function publishItem(item: QueueItem): Promise<void> {
    await nats.js.publish(SUBJECTS.queue(item.pool), codecs.queueItem.encode(item), {
      msgID: MSG_IDS.queueItem(item.id, item.domain, item.attempt),
    });
  }

  async function handleEnvelope(msg: JsMsg): Promise<void> {
    let envelope: ReturnType<typeof codecs.envelope.decode>;
    try {
      envelope = codecs.envelope.decode(msg.data);
    } catch (err) {
      rejectMalformed(msg, err);
      return;
    }
    const pool = pools.get(envelope.pool);
    const maxAgeMs = pool?.retry.maxAgeMs ?? 72 * 3600_000;
    const groups = groupByDomain(envelope.rcpts);
    await tracker.open(envelope.pool, envelope.id, [...groups.keys()], maxAgeMs + 86_400_000);
    await Promise.all(
      [...groups].map(([domain, rcpts]) =>
        publishItem({
          v: 1,
          id: envelope.id,
          pool: envelope.pool,
          domain,
          from: envelope.from,
          rcpts,
          body: envelope.body,
          receivedAt: envelope.receivedAt,
          attempt: 0,
          notBefore: envelope.receivedAt,
        }),
      ),
    );
    await events.publish(envelope.rcpts.map((rcpt) => event('accepted', envelope, rcpt)));
    msg.ack();
  }

  async function handleQueueItem(msg: JsMsg): Promise<void> {
    let item: QueueItem;
    try {
      item = codecs.queueItem.decode(msg.data);
    } catch (err) {
      rejectMalformed(msg, err);
      return;
    }
    const t = now();
    if (item.notBefore > t) {
      msg.nak(item.notBefore - t);
      return;
    }
    const pool = pools.get(item.pool);
    if (!pool) {
      metrics.deferred.inc({ pool: item.pool, reason: 'unknown-pool' });
      msg.nak(UNKNOWN_POOL_DELAY_MS);
      return;
    }
    const decision = await admission.decide(item, pool, t);
    if (decision.kind === 'wait') {
      metrics.deferred.inc({ pool: pool.key, reason: decision.reason });
      msg.nak(Math.max(decision.ms, 1));
      return;
    }
    const job: Job = {
      v: 1,
      jobId: MSG_IDS.job(item.id, item.domain, item.attempt),
      id: item.id,
      pool: item.pool,
      domain: item.domain,
      ip: decision.ip,
      policy: decision.policy,
      from: item.from,
      rcpts: item.rcpts,
      body: item.body,
      receivedAt: item.receivedAt,
      attempt: item.attempt,
    };
    await nats.js.publish(SUBJECTS.job(pool.key, decision.ip), codecs.job.encode(job), {
      msgID: job.jobId,
    });
    metrics.scheduled.inc({ pool: pool.key, ip: decision.ip, policy: decision.policy });
    msg.ack();
  }

  async function finishGroup(job: Job, pool: CompiledPool | undefined): Promise<void> {
    const last = await tracker.finish(job.pool, job.id, job.domain);
    if (last) {
      await bodies.remove(job.id, job.body).catch((err: unknown) => {
        log.warn({ err, id: job.id, pool: pool?.key }, 'could not remove body; max age will');
      });
    }
  }

  async function handleResult(msg: JsMsg): Promise<void> {
    let result: JobResult;
    try {
      result = codecs.result.decode(msg.data);
    } catch (err) {
      rejectMalformed(msg, err);
      return;
    }
    const { job } = result;
    const pool = pools.get(job.pool);
    const out: DeliveryEvent[] = [];
    const deferred: RecipientOutcome[] = [];
    for (const outcome of result.outcomes) {
      if (outcome.status === 'delivered') {
        out.push(event('delivered', job, outcome.rcpt, outcome));
      } else if (outcome.status === 'failed') {
        out.push(event('bounced', job, outcome.rcpt, outcome));
      } else {
        deferred.push(outcome);
        out.push(event('deferred', job, outcome.rcpt, outcome));
      }
    }
    let groupOpen = false;
    if (deferred.length > 0) {
      const plan = planRetry({ job, pool, now: now(), rng });
      if (plan.kind === 'retry') {
        groupOpen = true;
        await publishItem({
          v: 1,
          id: job.id,
          pool: job.pool,
          domain: job.domain,
          from: job.from,
          rcpts: deferred.map((d) => d.rcpt),
          body: job.body,
          receivedAt: job.receivedAt,
          attempt: job.attempt + 1,
          notBefore: plan.at,
          lastIp: job.ip,
        });
      } else {
        for (const d of deferred) {
          out.push(
            event('expired', job, d.rcpt, {
              ...d,
              status: 'failed',
              code: 550,
              enhanced: '4.4.7',
              text: `4.4.7 Message expired after ${job.attempt + 1} attempts; last reply: ${d.code} ${d.text}`,
            }),
          );
        }
      }
    }
    for (const e of out) metrics.outcomes.inc({ pool: job.pool, type: e.type });
    await events.publish(out);
    if (!groupOpen) await finishGroup(job, pool);
    msg.ack();
  }

  await ensureConsumer(nats.jsm, STREAMS.envelopes, CONSUMERS.schedulerEnvelopes, {
    ackWaitMs: 30_000,
    maxAckPending: config.concurrency * 4,
  });
  await ensureConsumer(nats.jsm, STREAMS.queue, CONSUMERS.schedulerQueue, {
    ackWaitMs: 30_000,
    maxAckPending: config.maxParked,
  });
  await ensureConsumer(nats.jsm, STREAMS.results, CONSUMERS.schedulerResults, {
    ackWaitMs: 30_000,
    maxAckPending: config.concurrency * 4,
  });

  const loops: ConsumerLoop[] = await Promise.all([
    startConsumerLoop({
      js: nats.js,
      stream: STREAMS.envelopes,
      durable: CONSUMERS.schedulerEnvelopes,
      concurrency: config.concurrency,
      log,
      handle: handleEnvelope,
    }),
    startConsumerLoop({
      js: nats.js,
      stream: STREAMS.queue,
      durable: CONSUMERS.schedulerQueue,
      concurrency: config.concurrency,
      log,
      handle: handleQueueItem,
    }),
    startConsumerLoop({
      js: nats.js,
      stream: STREAMS.results,
      durable: CONSUMERS.schedulerResults,
      concurrency: config.concurrency,
      log,
      handle: handleResult,
    }),
  ]);

  return {
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}
