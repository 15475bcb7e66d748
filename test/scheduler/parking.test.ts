/**
 * No head-of-line blocking: 100,000 delivery items for one throttled destination wait
 * parked (in JetStream, their turns in Redis) while mail to another destination goes
 * through at once; when the pause ends the backlog comes back at the pace it can be sent,
 * not as one burst. The scheduler runs as its own process so its memory can be read.
 *
 * Probe delays (submission of an envelope to arrival at the receiver) are measured in
 * each phase and reported; the bound asserted (1 s) is generous, the numbers are the
 * point. The items are published straight to the queue stream, as the envelope stage
 * would after splitting one message for 100,000 recipients.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  CONSUMERS,
  codecs,
  MSG_IDS,
  type QueueItem,
  REDIS_KEYS,
  STREAMS,
  SUBJECTS,
  throttleField,
} from '@hikyaku/core';
import { type ServiceProcess, serviceProcess } from '@hikyaku/local';
import { createMessageTracker, createTestClock } from '@hikyaku/scheduler';
import { freePort, type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { headers } from '@nats-io/transport-node';
import { IP1, IP2, message, type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const BACKLOG = 100_000;
const clock = createTestClock({ start: Date.now() });
let fast: SmtpSink;
let slow: SmtpSink;
let relay: ShapingFixture;
let scheduler: ServiceProcess;
let opsPort: number;
const delivered = new Map<string, number>();
let slowArrivals = 0;

before(async () => {
  fast = await startSmtpSink({
    host: '127.0.0.25',
    port: 0,
    keep: false,
    onMessage: (m) => void delivered.set(m.rcpts[0] ?? '', Date.now()),
  });
  slow = await startSmtpSink({
    host: '127.0.0.26',
    port: 0,
    keep: false,
    onMessage: () => void slowArrivals++,
  });
  relay = await startShapingFixture({
    clock,
    schedulers: 0,
    spec: {
      ips: [IP1, IP2],
      routes: [
        { domains: ['fast.test'], host: `127.0.0.25:${fast.port}` },
        { domains: ['slow.test'], host: `127.0.0.26:${slow.port}` },
      ],
      ratePolicies: [
        { name: 'slow', match: { domains: ['slow.test'] }, perIp: { messagesPerMinute: 120 } },
      ],
    },
  });
  opsPort = await freePort();
  scheduler = serviceProcess({
    name: 'scheduler',
    command: 'scheduler',
    env: { ...relay.env, HIKYAKU_HTTP_PORT: String(opsPort), HIKYAKU_LOG_LEVEL: 'warn' },
    opsPort,
    onOutput: (name, line) => {
      if (/"level":(50|60)/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
    },
  });
  await scheduler.start();
});

after(async () => {
  await scheduler?.stop();
  await relay?.stop();
  await fast?.close();
  await slow?.close();
});

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function consumerState() {
  const info = await relay.admin.jsm.consumers.info(STREAMS.queue, CONSUMERS.schedulerQueue);
  return { unseen: info.num_pending, parked: info.num_ack_pending };
}

async function probe(rcpt: string): Promise<number> {
  const sent = Date.now();
  await relay.submit({ to: [rcpt] });
  await waitFor(`probe ${rcpt}`, () => delivered.has(rcpt), { timeoutMs: 30_000, intervalMs: 5 });
  return (delivered.get(rcpt) as number) - sent;
}

function describe(delays: number[]): string {
  const sorted = [...delays].sort((a, b) => a - b);
  return `n=${sorted.length} median ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms`;
}

test(`${BACKLOG} parked items for a throttled destination hold up nothing else`, async (t) => {
  const pid = scheduler.pid as number;
  const baseline: number[] = [];
  for (let i = 0; i < 6; i++) baseline.push(await probe(`baseline${i}@fast.test`));
  const rssBefore = rssMiB(pid);

  // slow.test was throttled a moment ago on both IPs: it may take half its rate, 60 a minute.
  for (const ip of [IP1.address, IP2.address]) {
    await relay.redis.hset(
      REDIS_KEYS.throttle(relay.pool.key),
      throttleField(ip, 'slow'),
      JSON.stringify({ factor: 0.5, pausedUntil: Date.now(), recoverAfter: 3600_000 }),
    );
  }
  // Handed in while no scheduler runs, so the clock below times the scheduler's first look
  // at every item, not the publishing; the restart also shows parking needs no process state.
  await scheduler.stop();
  const body = await relay.bodies.put(
    'bulk',
    message({ from: 'app@sender.test', to: 'all@slow.test' }),
  );
  await createMessageTracker(relay.redis).open(
    relay.pool.key,
    'bulk',
    Array.from({ length: BACKLOG }, (_, i) => (i === 0 ? 'slow.test' : `slow.test#${i}`)),
    86_400_000,
  );
  // Core NATS publishes (no acknowledgement each) into the stream's subject: loading the
  // backlog is not what is measured. The stream's count says when all are stored.
  const publishStart = Date.now();
  const stored = (await relay.admin.jsm.streams.info(STREAMS.queue)).state.messages;
  for (let part = 0; part < BACKLOG; part++) {
    const item: QueueItem = {
      delivery: {
        id: 'bulk',
        pool: relay.pool.key,
        domain: 'slow.test',
        from: 'app@sender.test',
        rcpts: [`user${part}@slow.test`],
        body,
        receivedAt: Date.now(),
        part,
      },
      attempt: 0,
      notBefore: 0,
    };
    const h = headers();
    h.set('Nats-Msg-Id', MSG_IDS.queueItem('bulk', 'slow.test', 0, part));
    relay.admin.nc.publish(SUBJECTS.queue(relay.pool.key), codecs.queueItem.encode(item), {
      headers: h,
    });
    if (part % 2000 === 1999) await relay.admin.nc.flush();
  }
  await relay.admin.nc.flush();
  await waitFor(
    'the backlog stored',
    async () =>
      (await relay.admin.jsm.streams.info(STREAMS.queue)).state.messages >= stored + BACKLOG,
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  const published = Date.now();
  await scheduler.start();
  const restarted = Date.now();
  const pid2 = scheduler.pid as number;
  await waitFor(
    'every backlog item seen and parked',
    async () => (await consumerState()).unseen === 0,
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  const parkedAt = Date.now();
  const parkedState = await consumerState();

  // The backlog waits and trickles out; mail for another destination must not notice.
  const slowBefore = slowArrivals;
  const parked: number[] = [];
  const rss: number[] = [];
  const until = Date.now() + 6000;
  for (let i = 0; Date.now() < until; i++) {
    parked.push(await probe(`parked${i}@fast.test`));
    rss.push(rssMiB(pid2));
    await new Promise((r) => setTimeout(r, 150));
  }
  const trickled = slowArrivals - slowBefore;
  const rssAfter = rssMiB(pid2);
  const metrics = await fetch(`http://127.0.0.1:${opsPort}/metrics`).then((r) => r.text());
  const depth = Number(
    /hikyaku_scheduler_queue_depth\{[^}]*policy="slow"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? -1,
  );

  t.diagnostic(
    `probe delays: before the backlog ${describe(baseline)}; ` +
      `with ${BACKLOG} parked ${describe(parked)}`,
  );
  t.diagnostic(
    `published ${BACKLOG} items in ${published - publishStart} ms; every one seen ` +
      `${parkedAt - restarted} ms after the scheduler started ` +
      `(${Math.round((BACKLOG * 1000) / (parkedAt - restarted))} items/s, other work on the machine included); ` +
      `${parkedState.parked} pending on the queue consumer; queue depth metric ${depth}; ` +
      `${trickled} delivered to the throttled destination in ${((Date.now() - until + 6000) / 1000).toFixed(1)} s`,
  );
  t.diagnostic(
    `scheduler RSS: ${rssBefore.toFixed(0)} MiB after the baseline, ${Math.min(...rss).toFixed(0)}-` +
      `${Math.max(...rss).toFixed(0)} MiB while ${BACKLOG} were parked, ${rssAfter.toFixed(0)} MiB at the end`,
  );
  assert.ok(Math.max(...parked) < 1000, `a probe took ${Math.max(...parked)} ms`);
  assert.ok(parkedState.parked >= BACKLOG - 1000, `only ${parkedState.parked} parked`);
  assert.ok(depth >= BACKLOG - 1000, `queue depth metric says ${depth}`);
  // 60 a minute per IP: a trickle, never a burst of the backlog.
  assert.ok(trickled > 0 && trickled < 100, `${trickled} left in 6 s`);
  assert.ok(rssAfter - rssBefore < 256, `scheduler RSS grew by ${rssAfter - rssBefore} MiB`);
});
