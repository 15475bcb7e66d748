/**
 * The scheduler against real parts, with time in the test's hands: its own nats-server and
 * redis-server, the pool compiled and written to NATS KV, one or more scheduler replicas
 * and the sender started in this process (the schedulers on a test clock, so minutes and
 * days pass as fast as the test needs), SMTP receivers on loopback addresses, and every
 * delivery event collected. Mail is handed in the way the ingress hands it in: body to
 * the BodyStore, envelope to JetStream.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BodyStore,
  type CompiledPool,
  codecs,
  compilePool,
  connectNats,
  createBodyStore,
  DEFAULT_LAYOUT,
  type DeliveryEvent,
  type Envelope,
  ensureStreams,
  handoffReplies,
  type JobResult,
  MSG_IDS,
  type NatsHandles,
  openPoolBucket,
  publishPool,
  type RecipientOutcome,
  type RelayPoolSpec,
  type ServiceContext,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import type { TestClock } from '@hikyaku/scheduler';
import { runScheduler } from '@hikyaku/scheduler';
import { runSender } from '@hikyaku/sender';
import {
  type ChildServer,
  freePort,
  startNatsServer,
  startRedisServer,
  waitFor,
} from '@hikyaku/testing';
import type { Subscription } from '@nats-io/transport-node';
import { Redis } from 'ioredis';

export const SENDER_POD = 'shaping-sender-0';
export const IP1 = { address: '127.0.0.2', hostname: 'mta1.hikyaku.test' };
export const IP2 = { address: '127.0.0.3', hostname: 'mta2.hikyaku.test' };

export interface ShapingFixture {
  readonly pool: CompiledPool;
  readonly admin: NatsHandles;
  readonly redis: Redis;
  readonly bodies: BodyStore;
  readonly events: DeliveryEvent[];
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly schedulers: ServiceContext[];
  readonly env: Record<string, string>;
  /** Hands a message in as the ingress would; returns its id. */
  submit(options: {
    from?: string;
    to: string[];
    receivedAt?: number;
    subject?: string;
    /** Bulk mail, as the ingress marks it (List-Unsubscribe, Precedence: bulk). */
    bulk?: boolean;
    /** The username the client authenticated as, as the ingress records it. */
    submitter?: string;
  }): Promise<string>;
  /** Writes a changed pool spec to NATS KV (the schedulers follow it live). */
  updatePool(spec: Partial<RelayPoolSpec>): Promise<CompiledPool>;
  eventsOf(type: DeliveryEvent['type']): DeliveryEvent[];
  stop(): Promise<void>;
}

export function message(options: { from: string; to: string; subject?: string }): Buffer {
  return Buffer.from(
    [
      `From: Shop <${options.from}>`,
      `To: <${options.to}>`,
      `Subject: ${options.subject ?? 'shaping test'}`,
      `Message-ID: <${randomUUID()}@client.hikyaku.test>`,
      'Date: Mon, 30 Nov 2026 09:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Hello from the shaping tests.',
      '',
    ].join('\r\n'),
  );
}

function compile(spec: RelayPoolSpec, generation: number): CompiledPool {
  return compilePool(
    {
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'shaping', namespace: 'test', generation },
      spec,
    },
    {
      assignment: Object.fromEntries(spec.ips.map((ip) => [ip.address, SENDER_POD])),
      // Used only by pools with feedback.
      feedbackSecret: 'shaping test secret',
    },
  );
}

export async function startShapingFixture(options: {
  spec: Partial<RelayPoolSpec>;
  clock: TestClock;
  /** Scheduler replicas (default 1). */
  schedulers?: number;
  /** Extra scheduler environment (HIKYAKU_SCHEDULER_MAX_PARK_MS, HIKYAKU_RATE_SLACK_MS, ...). */
  env?: Record<string, string>;
  /** Start the sender too (default true). */
  sender?: boolean;
}): Promise<ShapingFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-shaping-'));
  const started: { stop(): Promise<void> }[] = [];
  const cleanup = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const nats: ChildServer = await startNatsServer({
      port: await freePort(),
      dataDir: join(dataDir, 'nats'),
    });
    started.push(nats);
    const redisServer: ChildServer = await startRedisServer({
      port: await freePort(),
      dataDir: join(dataDir, 'redis'),
    });
    started.push(redisServer);
    let spec: RelayPoolSpec = { ips: [IP1, IP2], ...options.spec };
    let generation = 1;
    let pool = compile(spec, generation);
    const admin = await connectNats({ url: nats.url, name: 'shaping-test' });
    started.push({ stop: () => admin.nc.close() });
    await ensureStreams(admin.jsm, DEFAULT_LAYOUT);
    const kv = await openPoolBucket(admin.js);
    await publishPool(kv, pool);
    const bodies = await createBodyStore({
      js: admin.js,
      jsm: admin.jsm,
      replicas: 1,
      maxAgeMs: 8 * 86_400_000,
    });
    const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    started.push({ stop: async () => void (await redis.quit()) });
    const events: DeliveryEvent[] = [];
    // Stored events, and the acceptance and planning published for live watchers only.
    const subs: Subscription[] = [];
    for (const subject of [SUBJECTS.eventAll, SUBJECTS.progressAll]) {
      const sub = admin.nc.subscribe(subject);
      subs.push(sub);
      (async () => {
        for await (const m of sub) events.push(codecs.event.decode(m.data));
      })().catch(() => undefined);
    }

    const env: Record<string, string> = {
      NATS_URL: nats.url,
      REDIS_URL: redisServer.url,
      HIKYAKU_POOL: pool.key,
      HIKYAKU_POD_NAME: SENDER_POD,
      HIKYAKU_HTTP_HOST: '127.0.0.1',
      HIKYAKU_HTTP_PORT: '0',
      HIKYAKU_LOG_LEVEL: process.env.HIKYAKU_TEST_LOG_LEVEL ?? 'error',
      HIKYAKU_REPORTING_MTA: 'relay.hikyaku.test',
      HIKYAKU_CONNECTION_IDLE_MS: '200',
      // The tests read acceptance and planning from the live notices.
      HIKYAKU_PROGRESS_EVENTS: 'true',
      ...options.env,
    };
    const schedulers: ServiceContext[] = [];
    for (let i = 0; i < (options.schedulers ?? 1); i++) {
      const ctx = await runScheduler(env, { handleSignals: false, clock: options.clock });
      schedulers.push(ctx);
      started.push({ stop: () => ctx.lifecycle.shutdown('test over') });
    }
    if (options.sender !== false) {
      const sender = await runSender(env, { handleSignals: false });
      started.push({ stop: () => sender.lifecycle.shutdown('test over') });
    }

    return {
      get pool() {
        return pool;
      },
      admin,
      redis,
      bodies,
      events,
      natsUrl: nats.url,
      redisUrl: redisServer.url,
      schedulers,
      env,
      async submit(o) {
        const id = randomUUID().replace(/-/g, '');
        const from = o.from ?? 'app@sender.test';
        const raw = message({
          from,
          to: o.to[0] as string,
          ...(o.subject ? { subject: o.subject } : {}),
        });
        const envelope: Envelope = {
          v: 1,
          id,
          pool: pool.key,
          receivedAt: o.receivedAt ?? options.clock.now(),
          from,
          rcpts: o.to,
          body: await bodies.put(id, raw),
          ...(o.bulk ? { bulk: true } : {}),
          ...(o.submitter ? { submitter: o.submitter } : {}),
        };
        await admin.js.publish(SUBJECTS.envelope(pool.key), codecs.envelope.encode(envelope), {
          msgID: MSG_IDS.envelope(id),
        });
        return id;
      },
      async updatePool(next) {
        spec = { ...spec, ...next };
        generation++;
        pool = compile(spec, generation);
        await publishPool(kv, pool);
        return pool;
      },
      eventsOf(type) {
        return events.filter((e) => e.type === type);
      },
      async stop() {
        for (const sub of subs) sub.unsubscribe();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Per key, how many items fall in each minute (or any bucket) of the clock. */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

export { waitFor };

/** Outcome events of one type stored for a message (the stream's count, not what subscribers saw). */
export async function storedEvents(
  jsm: NatsHandles['jsm'],
  id: string,
  type: DeliveryEvent['type'],
): Promise<number> {
  const info = await jsm.streams.info(STREAMS.events, {
    subjects_filter: SUBJECTS.eventsOfQueueId(id),
  });
  return Object.entries(info.state.subjects ?? {})
    .filter(([subject]) => subject.endsWith(`.${type}`))
    .reduce((sum, [, n]) => sum + n, 0);
}

/**
 * A result of a job to `domain` the scheduler might have dispatched from IP1, its body
 * stored as the ingress stores it: what a sender hands over.
 */
export async function resultOf(
  relay: ShapingFixture,
  clock: { now(): number },
  outcome: RecipientOutcome,
  domain: string,
): Promise<JobResult> {
  const id = randomUUID().replace(/-/g, '');
  const from = 'app@sender.test';
  const now = clock.now();
  return {
    job: {
      jobId: MSG_IDS.job(id, domain, 0),
      delivery: {
        id,
        pool: relay.pool.key,
        domain,
        from,
        rcpts: [outcome.rcpt],
        body: await relay.bodies.put(id, message({ from, to: outcome.rcpt })),
        receivedAt: now,
      },
      ip: IP1.address,
      policy: 'default',
      attempt: 0,
      dispatchedAt: now,
    },
    outcomes: [outcome],
    startedAt: now,
    finishedAt: now,
  };
}

/** Hands a result to the scheduler as its sender would; resolves with the answer. */
export async function handOff(relay: ShapingFixture, result: JobResult) {
  const reply = await relay.admin.nc.request(
    SUBJECTS.resultHandoff(relay.pool.key),
    codecs.result.encode(result, 2),
    { timeout: 30_000 },
  );
  return handoffReplies.decode(reply.data);
}

/** Whether a message's body is still in the bodies stream. */
export async function bodyStored(relay: ShapingFixture, id: string): Promise<boolean> {
  const info = await relay.admin.jsm.streams.info(STREAMS.bodies, {
    subjects_filter: SUBJECTS.body(id),
  });
  return info.state.messages > 0;
}
