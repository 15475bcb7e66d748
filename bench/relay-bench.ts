/**
 * End-to-end benchmark: a fresh local stack (own nats-server and redis-server, the three
 * services as processes) relaying to a fast receiving sink on loopback. It pushes N
 * messages of S bytes over C concurrent SMTP sessions, waits until every accepted message
 * reached the sink, and prints one JSON line.
 *
 *   npm run bench -- --messages 20000 --size 10240 --sessions 20
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTransport } from 'nodemailer';
import { freePort, sleep } from '../services/local/src/ports.ts';
import { startSmtpSink } from '../services/local/src/smtp-sink.ts';
import { startLocalStack } from '../services/local/src/stack.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    size: { type: 'string', default: '10240' },
    sessions: { type: 'string', default: '20' },
    'timeout-s': { type: 'string', default: '900' },
  },
});

function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`bench: --${name} must be a positive whole number, got "${raw}"\n`);
    process.exit(2);
  }
  return n;
}

const messages = positive('messages', values.messages);
const size = positive('size', values.size);
const sessions = positive('sessions', values.sessions);
const timeoutMs = positive('timeout-s', values['timeout-s']) * 1000;

function message(id: number): Buffer {
  const head =
    `From: <bench@hikyaku.test>\r\nTo: <rcpt${id}@example.test>\r\nSubject: bench ${id}\r\n` +
    `X-Bench-Id: ${id}\r\nMessage-ID: <bench-${id}@hikyaku.test>\r\nDate: Mon, 30 Nov 2026 00:00:00 +0000\r\n\r\n`;
  const line = `${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}\r\n`;
  const body = line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length)));
  return Buffer.from(head + body).subarray(0, Math.max(size, head.length + 2));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Peak resident set size (VmHWM) of a process, in MiB. */
function peakRssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in seconds. */
function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Math.round((ticks / 100) * 10) / 10;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-bench-'));
  const delivered = new Set<number>();
  let lastDeliveryAt = 0;
  const sink = await startSmtpSink({
    host: '127.0.0.10',
    port: 0,
    keep: false,
    onMessage(m) {
      const id = /X-Bench-Id: (\d+)/.exec(m.raw.subarray(0, 512).toString('latin1'))?.[1];
      if (id !== undefined) delivered.add(Number(id));
      lastDeliveryAt = Date.now();
    },
  });
  const stack = await startLocalStack({
    pool: {
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'bench', namespace: 'local' },
      spec: {
        allowedNetworks: ['127.0.0.0/8'],
        ips: [
          { address: '127.0.0.2', hostname: 'mta1.hikyaku.test' },
          { address: '127.0.0.3', hostname: 'mta2.hikyaku.test' },
        ],
        routes: [{ domains: ['example.test'], host: `127.0.0.10:${sink.port}` }],
        ratePolicies: [
          {
            name: 'default',
            perIp: { messagesPerMinute: 1_000_000, connections: 20, messagesPerConnection: 1000 },
          },
        ],
      },
    },
    dataDir,
    smtpPort: await freePort(),
    env: { HIKYAKU_LOG_LEVEL: 'warn' },
    onOutput: (name, line) => {
      if (/"level":(50|60)/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
    },
  });

  const client = createTransport({
    host: stack.smtpHost,
    port: stack.smtpPort,
    pool: true,
    maxConnections: sessions,
    maxMessages: Number.POSITIVE_INFINITY,
    ignoreTLS: true,
  });
  const latencies: number[] = [];
  let accepted = 0;
  let refused = 0;
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      while (next < messages) {
        const id = next++;
        const t0 = performance.now();
        try {
          await client.sendMail({
            envelope: { from: 'bench@hikyaku.test', to: [`rcpt${id}@example.test`] },
            raw: message(id),
          });
          latencies.push(performance.now() - t0);
          accepted++;
        } catch {
          refused++;
        }
      }
    }),
  );
  const acceptedAt = Date.now();
  client.close();

  const deadline = started + timeoutMs;
  while (delivered.size < accepted && Date.now() < deadline) await sleep(50);
  const finished = delivered.size >= accepted ? lastDeliveryAt : Date.now();

  latencies.sort((a, b) => a - b);
  const result = {
    messages,
    size,
    sessions,
    sent: messages,
    accepted,
    refused,
    delivered: delivered.size,
    lost: accepted - delivered.size,
    acceptedPerSecond: Math.round((accepted / ((acceptedAt - started) / 1000)) * 10) / 10,
    deliveredPerSecond: Math.round((delivered.size / ((finished - started) / 1000)) * 10) / 10,
    acceptLatencyMs: {
      p50: Math.round(percentile(latencies, 50) * 10) / 10,
      p99: Math.round(percentile(latencies, 99) * 10) / 10,
    },
    peakRssMiB: {
      ingress: peakRssMiB(stack.services.ingress.pid),
      scheduler: peakRssMiB(stack.services.scheduler.pid),
      sender: peakRssMiB(stack.services.sender.pid),
      natsServer: peakRssMiB(stack.nats?.process.pid),
      redisServer: peakRssMiB(stack.redis?.process.pid),
    },
    // CPU seconds each process spent: where the time goes, whatever else the machine does.
    cpuSeconds: {
      benchClient: Math.round(process.cpuUsage().user / 1e5) / 10,
      ingress: cpuSeconds(stack.services.ingress.pid),
      scheduler: cpuSeconds(stack.services.scheduler.pid),
      sender: cpuSeconds(stack.services.sender.pid),
      natsServer: cpuSeconds(stack.nats?.process.pid),
      redisServer: cpuSeconds(stack.redis?.process.pid),
    },
  };
  await stack.stop();
  await sink.close();
  rmSync(dataDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.lost === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
