/**
 * Several replicas of each service on one pool: two ingress, two schedulers and two sender
 * pods (one per IP) under a steady load. The receiver counts, by its own clock, what
 * arrives from each source IP for each site: no sliding minute ever holds more than the
 * pool's per-IP limit, nor (across the IPs) more than its per-site limit. Both schedulers
 * take part, and when one is killed with SIGKILL the other finishes its work: every
 * message answered 250 arrives.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { METRICS, type RelayPoolSpec } from '@hikyaku/core';
import { type SmtpSink, startSmtpSink, waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { counterSum, type ReplicaSet, scrape, startReplicaSet } from '../harness/replicas.ts';

const IP1 = { address: '127.0.0.2', hostname: 'mta1.hikyaku.test' };
const IP2 = { address: '127.0.0.3', hostname: 'mta2.hikyaku.test' };
const SINK_HOST = '127.0.0.31';
/** site-a: 30 a minute per IP, 40 across the pool (the pool limit binds). */
const A_PER_IP = 30;
const A_POOL = 40;
/** site-b: 20 a minute per IP, no pool limit (the per-IP limit binds). */
const B_PER_IP = 20;
const COUNTS = { a: 70, b: 50, load: 300 };

interface Arrival {
  rcpt: string;
  peer: string;
  at: number;
}

let sink: SmtpSink;
let relay: ReplicaSet;
const arrivals: Arrival[] = [];

function spec(sinkPort: number): RelayPoolSpec {
  return {
    allowedNetworks: ['127.0.0.0/8'],
    ips: [IP1, IP2],
    routes: [{ domains: ['a.test', 'b.test', 'load.test'], host: `${SINK_HOST}:${sinkPort}` }],
    retry: { schedule: ['1s'], maxAge: '1h' },
    ratePolicies: [
      {
        name: 'site-a',
        match: { domains: ['a.test'] },
        perIp: { messagesPerMinute: A_PER_IP },
        poolMessagesPerMinute: A_POOL,
      },
      { name: 'site-b', match: { domains: ['b.test'] }, perIp: { messagesPerMinute: B_PER_IP } },
      {
        name: 'default',
        perIp: { messagesPerMinute: 1_000_000, connections: 10, messagesPerConnection: 1000 },
      },
    ],
  };
}

before(async () => {
  sink = await startSmtpSink({
    host: SINK_HOST,
    port: 0,
    keep: false,
    onMessage: (m) => {
      for (const rcpt of m.rcpts) arrivals.push({ rcpt, peer: m.peerAddress, at: Date.now() });
    },
  });
  relay = await startReplicaSet({
    spec: spec(sink.port),
    ingress: 2,
    schedulers: 2,
    // The slack covers how much the time from dispatch to arrival varies on a loaded
    // machine: the receiver's minute is checked, not the scheduler's.
    env: { HIKYAKU_RATE_SLACK_MS: '10000', HIKYAKU_STORE_TIMEOUT_MS: '10000' },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

/** The most arrivals any 60 s of the receiver's clock holds. */
function worstMinute(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= 60_000) j++;
    worst = Math.max(worst, i - j + 1);
  }
  return worst;
}

async function scheduled(port: number): Promise<number> {
  return counterSum(await scrape(port), METRICS.schedulerScheduled);
}

test('2 ingress × 2 schedulers × 2 senders: no limit exceeded, a killed scheduler loses nothing', {
  timeout: 600_000,
}, async (t) => {
  const clients = relay.ingress.map((ingress) =>
    createTransport({
      host: '127.0.0.1',
      port: ingress.smtpPort,
      secure: false,
      ignoreTLS: true,
      pool: true,
      maxConnections: 4,
      maxMessages: 1000,
    }),
  );
  const recipients = (Object.keys(COUNTS) as (keyof typeof COUNTS)[]).flatMap((site) =>
    Array.from({ length: COUNTS[site] }, (_, i) => `${site}-${i}@${site}.test`),
  );
  const accepted: string[] = [];
  const refused: string[] = [];
  const sending = Promise.all(
    recipients.map(async (to, i) => {
      try {
        await clients[i % clients.length]?.sendMail({
          envelope: { from: 'app@hikyaku.test', to: [to] },
          raw: `From: <app@hikyaku.test>\r\nTo: <${to}>\r\nSubject: ${to}\r\n\r\nreplicas\r\n`,
        });
        accepted.push(to);
      } catch (err) {
        refused.push(`${to}: ${(err as Error & { response?: string }).response ?? err}`);
      }
    }),
  );

  const [killed, survivor] = relay.schedulers as [
    (typeof relay.schedulers)[0],
    (typeof relay.schedulers)[0],
  ];
  // Kill once both schedulers are dispatching and the limited sites have a backlog parked.
  const before = await waitFor(
    'both schedulers dispatching',
    async () => {
      const counts = await Promise.all([killed, survivor].map((s) => scheduled(s.opsPort)));
      const limited = arrivals.filter((a) => !a.rcpt.endsWith('@load.test')).length;
      return counts.every((n) => n > 0) && limited >= 20 ? counts : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  t.diagnostic(`jobs dispatched per scheduler before the kill: ${before.join(', ')}`);
  await killed.kill();
  await sending;
  for (const client of clients) client.close();
  assert.deepEqual(refused, [], 'two ingress replicas refuse nothing');

  await waitFor(
    () => `all ${accepted.length} accepted messages delivered (${arrivals.length} so far)`,
    () => {
      const arrived = new Set(arrivals.map((a) => a.rcpt));
      return accepted.every((r) => arrived.has(r));
    },
    { timeoutMs: 420_000, intervalMs: 1000 },
  );
  const arrived = new Set(arrivals.map((a) => a.rcpt));
  assert.deepEqual(
    accepted.filter((r) => !arrived.has(r)),
    [],
    'nothing accepted is lost',
  );
  assert.equal(accepted.length, recipients.length);
  const after = await scheduled(survivor.opsPort);
  t.diagnostic(`the survivor dispatched ${after - (before[1] as number)} jobs after the kill`);
  assert.ok(after > (before[1] as number), 'the surviving scheduler took over the work');

  const copies = arrivals.length - arrived.size;
  const timesOf = (site: string, peer?: string): number[] =>
    arrivals
      .filter((a) => a.rcpt.endsWith(`@${site}.test`) && (peer === undefined || a.peer === peer))
      .map((a) => a.at);
  const report: Record<string, number> = {};
  for (const ip of [IP1.address, IP2.address]) {
    report[`a ${ip}`] = worstMinute(timesOf('a', ip));
    report[`b ${ip}`] = worstMinute(timesOf('b', ip));
  }
  report['a pool'] = worstMinute(timesOf('a'));
  report['b pool'] = worstMinute(timesOf('b'));
  t.diagnostic(
    `worst receiver minute: ${JSON.stringify(report)}; limits a ${A_PER_IP}/IP ${A_POOL}/pool, ` +
      `b ${B_PER_IP}/IP; copies delivered twice or more: ${copies}`,
  );
  for (const ip of [IP1.address, IP2.address]) {
    assert.ok((report[`a ${ip}`] as number) <= A_PER_IP, `site-a from ${ip} over its limit`);
    assert.ok((report[`b ${ip}`] as number) <= B_PER_IP, `site-b from ${ip} over its limit`);
  }
  assert.ok((report['a pool'] as number) <= A_POOL, 'site-a over its pool limit');
  // The limits were reached, so the check above had something to hold back.
  assert.ok((report['a pool'] as number) >= A_POOL * 0.75, 'site-a ran near its pool limit');
  assert.ok((report['b pool'] as number) > B_PER_IP, 'site-b sent from both IPs at once');
  for (const site of ['a', 'b', 'load']) {
    assert.deepEqual(
      [
        ...new Set(arrivals.filter((a) => a.rcpt.endsWith(`@${site}.test`)).map((a) => a.peer)),
      ].sort(),
      [IP1.address, IP2.address],
      `both sender pods sent ${site}.test mail`,
    );
  }
});
