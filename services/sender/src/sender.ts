/**
 * The sender of one pod: one durable consumer per IP the pool assigns to this pod, so a
 * job is only ever taken by the owner of its IP. A job is acknowledged only after its
 * result is published; on shutdown unfinished jobs are handed back for redelivery.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  type BodyStore,
  CONSUMERS,
  type CompiledIp,
  type CompiledPool,
  type ConsumerLoop,
  codecs,
  ensureConsumer,
  ipsOfPod,
  type Job,
  type JobResult,
  type Logger,
  METRICS,
  MSG_IDS,
  type NatsHandles,
  type PoolDirectory,
  type RecipientOutcome,
  STREAMS,
  SUBJECTS,
  startConsumerLoop,
} from '../../core/src/index.ts';
import type { SenderConfig } from './config.ts';
import { deliverJob, type NextHopCandidate } from './deliver.ts';
import { routeFromStatic } from './routing/static-routes.ts';
import { createTransportCache } from './transports.ts';

export interface Sender {
  /** IPs this pod is consuming jobs for right now. */
  ips(): string[];
  stop(): Promise<void>;
}

/** Ack-wait of a job; a delivery in progress reports progress well within it. */
const JOB_ACK_WAIT_MS = 60_000;
const PROGRESS_EVERY_MS = 20_000;

export async function startSender(deps: {
  config: SenderConfig;
  nats: NatsHandles;
  pools: PoolDirectory;
  bodies: BodyStore;
  log: Logger;
  registry: Registry;
  resolveHops?: (pool: CompiledPool, domain: string) => Promise<NextHopCandidate[]>;
  now?: () => number;
}): Promise<Sender> {
  const { config, nats, pools, bodies, log, registry } = deps;
  const now = deps.now ?? Date.now;
  const transports = createTransportCache(config);
  const loops = new Map<string, ConsumerLoop>();
  let stopping = false;

  const metrics = {
    attempts: new Counter({
      name: METRICS.senderAttempts,
      help: 'Delivery attempts (one per job)',
      labelNames: ['pool', 'ip', 'policy'],
      registers: [registry],
    }),
    outcomes: new Counter({
      name: METRICS.senderOutcomes,
      help: 'Recipient outcomes, by status and reply class',
      labelNames: ['pool', 'ip', 'policy', 'status', 'class'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: METRICS.senderTransactionLatency,
      help: 'Duration of one delivery attempt',
      labelNames: ['pool', 'ip'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    open: new Gauge({
      name: METRICS.senderOpenConnections,
      help: 'Delivery attempts in progress per IP',
      labelNames: ['pool', 'ip'],
      registers: [registry],
    }),
  };

  async function staticHops(pool: CompiledPool, domain: string): Promise<NextHopCandidate[]> {
    const hop = routeFromStatic(pool.routes, domain);
    return hop ? [hop] : [];
  }
  const resolveHops = deps.resolveHops ?? staticHops;

  async function handleJob(msg: JsMsg, ip: CompiledIp): Promise<void> {
    let job: Job;
    try {
      job = codecs.job.decode(msg.data);
    } catch (err) {
      log.error({ err, subject: msg.subject }, 'dropping malformed job');
      msg.term('malformed');
      return;
    }
    const pool = pools.get(job.pool);
    if (!pool) {
      msg.nak(5000);
      return;
    }
    const labels = { pool: pool.key, ip: ip.address };
    const progress = setInterval(() => msg.working(), PROGRESS_EVERY_MS);
    const startedAt = now();
    metrics.open.inc(labels);
    metrics.attempts.inc({ ...labels, policy: job.policy });
    let outcomes: RecipientOutcome[];
    try {
      const body = await bodies.get(job.id, job.body);
      const hops = await resolveHops(pool, job.domain);
      outcomes = await deliverJob({
        job,
        body,
        hops,
        transports,
        transportFor: (hop) => ({
          ip: ip.address,
          hostname: ip.hostname,
          host: hop.host,
          port: hop.port,
          maxConnections: 4,
          maxMessages: 100,
          requireTls: false,
        }),
      });
    } catch (err) {
      // A missing body, a DNS failure: the attempt is deferred like any other temporary failure.
      const e = err as Error & { code?: string; responseCode?: number; enhanced?: string };
      const code = e.responseCode ?? 451;
      outcomes = job.rcpts.map((rcpt) => ({
        rcpt,
        status: code >= 500 ? 'failed' : 'deferred',
        code,
        enhanced: e.enhanced ?? '4.3.0',
        text: `${e.enhanced ?? '4.3.0'} ${e.message}`,
        ...(e.code ? { errorCode: e.code } : {}),
      }));
    } finally {
      clearInterval(progress);
      metrics.open.dec(labels);
    }
    const result: JobResult = {
      v: 1,
      job,
      outcomes,
      startedAt,
      finishedAt: now(),
    };
    await nats.js.publish(SUBJECTS.result(pool.key), codecs.result.encode(result), {
      msgID: MSG_IDS.result(job.jobId),
    });
    metrics.latency.observe(labels, (result.finishedAt - startedAt) / 1000);
    for (const o of outcomes) {
      metrics.outcomes.inc({
        ...labels,
        policy: job.policy,
        status: o.status,
        class: `${String(o.code).charAt(0)}xx`,
      });
    }
    msg.ack();
  }

  async function startIp(pool: CompiledPool, ip: CompiledIp): Promise<void> {
    const durable = CONSUMERS.senderJobs(pool.key, ip.address);
    await ensureConsumer(nats.jsm, STREAMS.jobs, durable, {
      filterSubject: SUBJECTS.job(pool.key, ip.address),
      ackWaitMs: JOB_ACK_WAIT_MS,
      maxAckPending: config.concurrencyPerIp * 2,
    });
    const loop = await startConsumerLoop({
      js: nats.js,
      stream: STREAMS.jobs,
      durable,
      concurrency: config.concurrencyPerIp,
      log: log.child({ ip: ip.address }),
      handle: (msg) => handleJob(msg, ip),
    });
    loops.set(ip.address, loop);
    log.info({ ip: ip.address, hostname: ip.hostname }, 'sending from ip');
  }

  /** Follows the pool's assignment: start consumers for new IPs, stop them for moved ones. */
  async function reconcile(pool: CompiledPool): Promise<void> {
    if (stopping) return;
    const mine = ipsOfPod(pool, config.podName);
    const wanted = new Set(mine.map((ip) => ip.address));
    for (const [address, loop] of loops) {
      if (!wanted.has(address)) {
        loops.delete(address);
        await loop.stop();
        log.info({ ip: address }, 'ip no longer assigned to this pod');
      }
    }
    for (const ip of mine) if (!loops.has(ip.address)) await startIp(pool, ip);
  }

  const pool = await pools.waitFor(config.pool, 30_000);
  await reconcile(pool);
  let chain = Promise.resolve();
  pools.onChange((next, key) => {
    if (!next || key !== config.pool) return;
    chain = chain
      .then(() => reconcile(next))
      .catch((err: unknown) => {
        log.error({ err }, 'could not follow the pool assignment');
      });
  });

  return {
    ips: () => [...loops.keys()],
    async stop() {
      stopping = true;
      await Promise.all([...loops.values()].map((l) => l.stop()));
      loops.clear();
      transports.closeAll();
    },
  };
}
