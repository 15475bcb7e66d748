/**
 * The sender alone against real parts: its own nats-server, the pool compiled and written
 * to NATS KV, the sender service started in this process (or as a process, for signal
 * tests), jobs published the way the scheduler publishes them, and every result collected.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BodyStore,
  CONSUMERS,
  type CompiledPool,
  codecs,
  compilePool,
  connectNats,
  createBodyStore,
  DEFAULT_LAYOUT,
  type Delivery,
  ensureStreams,
  type Job,
  type JobResult,
  MSG_IDS,
  type NatsHandles,
  openPoolBucket,
  publishPool,
  type RelayPoolSpec,
  type ServiceContext,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import { runSender } from '@hikyaku/sender';
import { type ChildServer, freePort, startNatsServer, waitFor } from '@hikyaku/testing';
import type { Subscription } from '@nats-io/transport-node';

export const SENDER_POD = 'test-sender-0';
export const IP1 = { address: '127.0.0.2', hostname: 'mta1.hikyaku.test' };
export const IP2 = { address: '127.0.0.3', hostname: 'mta2.hikyaku.test' };

export interface SubmitOptions {
  rcpts: string[];
  from?: string;
  /** Defaults to the first recipient's domain. */
  domain?: string;
  ip?: string;
  policy?: string;
  raw?: Buffer;
  attempt?: number;
  id?: string;
  /** DSN parameters (RFC 3461) as the scheduler carries them. */
  dsn?: Delivery['dsn'];
  rcptDsn?: Delivery['rcptDsn'];
}

export interface SenderFixture {
  readonly natsUrl: string;
  readonly pool: CompiledPool;
  readonly admin: NatsHandles;
  readonly bodies: BodyStore;
  /** Every result the sender published, in order. */
  readonly results: JobResult[];
  /** The in-process sender (absent when the fixture was started without it). */
  sender?: ServiceContext;
  /** The environment the sender runs with. */
  readonly env: Record<string, string>;
  startSender(): Promise<ServiceContext>;
  submit(options: SubmitOptions): Promise<Job>;
  result(job: Job, timeoutMs?: number): Promise<JobResult>;
  /**
   * The jobs of an IP (default IP1) its consumer has handed out and not had acknowledged
   * (`held`), and those still in the stream for it (`waiting`).
   */
  jobs(ip?: string): Promise<{ held: number; waiting: number }>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export function testMessage(options: {
  from: string;
  to: string;
  subject?: string;
  bodyBytes?: number;
}): Buffer {
  const lines = [
    `From: Shop <${options.from}>`,
    `To: <${options.to}>`,
    `Subject: ${options.subject ?? 'test'}`,
    `Message-ID: <${randomUUID()}@hikyaku.test>`,
    'Date: Mon, 30 Nov 2026 09:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
  ];
  const body: string[] = [];
  for (let size = 0, i = 0; size < (options.bodyBytes ?? 300); i++) {
    const line = `${i % 5 === 0 ? '.' : ''}line ${i} ${'x'.repeat(70)}`;
    body.push(line);
    size += line.length + 2;
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n${body.join('\r\n')}\r\n`);
}

export async function startSenderFixture(
  options: {
    spec?: Partial<RelayPoolSpec>;
    env?: Record<string, string>;
    /** Start the sender in this process right away (default true). */
    start?: boolean;
    /** Where nats-server keeps its data (default: in the fixture's own folder). */
    natsDataDir?: string;
  } = {},
): Promise<SenderFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-sender-'));
  let nats: ChildServer | undefined;
  let admin: NatsHandles | undefined;
  let sub: Subscription | undefined;
  const results: JobResult[] = [];
  try {
    nats = await startNatsServer({
      port: await freePort(),
      dataDir: options.natsDataDir ?? join(dataDir, 'nats'),
    });
    const spec: RelayPoolSpec = { ips: [IP1, IP2], ...options.spec };
    const pool = compilePool(
      {
        apiVersion: 'hikyaku.io/v1alpha1',
        kind: 'RelayPool',
        metadata: { name: 'senders', namespace: 'test' },
        spec,
      },
      { assignment: Object.fromEntries(spec.ips.map((ip) => [ip.address, SENDER_POD])) },
    );
    admin = await connectNats({ url: nats.url, name: 'sender-test' });
    await ensureStreams(admin.jsm, DEFAULT_LAYOUT);
    await publishPool(await openPoolBucket(admin.js), pool);
    const bodies = await createBodyStore({
      js: admin.js,
      jsm: admin.jsm,
      replicas: 1,
      maxAgeMs: 3600_000,
    });
    sub = admin.nc.subscribe(SUBJECTS.result(pool.key));
    const subscription = sub;
    (async () => {
      for await (const m of subscription) results.push(codecs.result.decode(m.data));
    })().catch(() => undefined);

    const env: Record<string, string> = {
      NATS_URL: nats.url,
      HIKYAKU_POOL: pool.key,
      HIKYAKU_POD_NAME: SENDER_POD,
      HIKYAKU_HTTP_HOST: '127.0.0.1',
      HIKYAKU_HTTP_PORT: '0',
      HIKYAKU_LOG_LEVEL: process.env.HIKYAKU_TEST_LOG_LEVEL ?? 'silent',
      ...options.env,
    };
    const handles = admin;
    const server = nats;
    const fixture: SenderFixture = {
      natsUrl: nats.url,
      pool,
      admin: handles,
      bodies,
      results,
      env,
      async startSender() {
        fixture.sender = await runSender(env, { handleSignals: false });
        return fixture.sender;
      },
      async submit(o) {
        const id = o.id ?? randomUUID();
        const rcpts = o.rcpts;
        const domain = o.domain ?? (rcpts[0] as string).split('@')[1] ?? '';
        const from = o.from ?? 'news@shop.test';
        const raw = o.raw ?? testMessage({ from, to: rcpts[0] as string });
        const attempt = o.attempt ?? 0;
        const ip = o.ip ?? IP1.address;
        const job: Job = {
          jobId: MSG_IDS.job(id, domain, attempt),
          delivery: {
            id,
            pool: pool.key,
            domain,
            from,
            rcpts,
            body: await bodies.put(id, raw),
            receivedAt: Date.now(),
            ...(o.dsn ? { dsn: o.dsn } : {}),
            ...(o.rcptDsn ? { rcptDsn: o.rcptDsn } : {}),
          },
          ip,
          policy: o.policy ?? 'default',
          attempt,
        };
        await handles.js.publish(SUBJECTS.job(pool.key, ip), codecs.job.encode(job), {
          msgID: job.jobId,
        });
        return job;
      },
      result(job, timeoutMs = 30_000) {
        return waitFor(
          `the result of ${job.jobId}`,
          () => results.find((r) => r.job.jobId === job.jobId),
          { timeoutMs },
        );
      },
      async jobs(ip = IP1.address) {
        const info = await handles.jsm.consumers.info(
          STREAMS.jobs,
          CONSUMERS.senderJobs(pool.key, ip),
        );
        return { held: info.num_ack_pending, waiting: info.num_pending };
      },
      async metrics() {
        return (await fixture.sender?.registry.metrics()) ?? '';
      },
      async stop() {
        await fixture.sender?.lifecycle.shutdown('test over');
        sub?.unsubscribe();
        await handles.nc.close();
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
    if (options.start !== false) await fixture.startSender();
    return fixture;
  } catch (err) {
    sub?.unsubscribe();
    await admin?.nc.close();
    await nats?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** The value of one sample of a metric in Prometheus text, or undefined. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf('}'));
    const ok = Object.entries(labels).every(([k, v]) => inner.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
