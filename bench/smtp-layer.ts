/**
 * The ingress, its SMTP layer and the floor a bare socket sets, side by side:
 *
 *   npm run bench:smtp-layer -- [--messages 6000] [--warmup 3000] [--size 10240]
 *     [--sessions 20] [--rounds 3] [--wire-version 2] [--client smtp-source|nodemailer]
 *
 * Three servers, each in a process of its own run with the services' Node flags and their
 * compiled code:
 * - `ingress`: the whole ingress of a local stack started with it alone (its own
 *   nats-server and redis-server, the benchmark's pool, no scheduler or sender), so every
 *   message is stored and none delivered;
 * - `ingress-layer` and `socket`: the ingress's SMTP layer without the ingress's own work,
 *   and a bare socket responder (smtp-layer-servers.ts).
 * Each round starts them in turn and sends each `--messages` messages with Postfix's
 * smtp-source (nodemailer where it is not installed, or with `--client nodemailer`), first
 * with a new connection per message, then over reused connections, after `--warmup`
 * messages in each mode. It prints one JSON line per run — the server's CPU milliseconds
 * per message, from /proc — and then the medians: the ingress beyond its
 * SMTP layer is its own work per message (pool, limits, suppression lookup, header fields,
 * the store), the SMTP layer beyond the socket is what the SMTP library and the ingress's
 * overrides cost.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectNats, STREAMS } from '@hikyaku/core';
import { SERVICE_NODE_FLAGS, startLocalStack } from '@hikyaku/local';
import { freePort } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { benchPool, printErrors } from './bench-pool.ts';
import { assertBuildCurrent, servicesInvocation } from './compiled-build.ts';
import { runSmtpSource, smtpSourceAvailable } from './postfix-tools.ts';
import { cpuSeconds, monotonicMicros } from './proc-stats.ts';
import { SMTP_LAYER_SERVERS, type SmtpLayerServer } from './smtp-layer-servers.ts';
import { median } from './stats.ts';

export type SmtpLayerMode = 'new-connection' | 'reused';

/**
 * What sends the messages: Postfix's smtp-source (a C program, the client of
 * `--against postfix`), or nodemailer in the benchmark's own process where smtp-source is
 * not installed. Only the server's CPU is counted either way; compare runs of one client.
 */
export type SmtpLayerClient = 'smtp-source' | 'nodemailer';

/** The whole ingress, then the two servers of smtp-layer-servers.ts. */
export const SMTP_LAYER_TARGETS = ['ingress', ...SMTP_LAYER_SERVERS] as const;
export type SmtpLayerTarget = (typeof SMTP_LAYER_TARGETS)[number];

export interface SmtpLayerRun {
  server: SmtpLayerTarget;
  mode: SmtpLayerMode;
  client: SmtpLayerClient;
  round: number;
  messages: number;
  size: number;
  sessions: number;
  /** The server process's CPU time (user and system) per message, in milliseconds. */
  cpuMsPerMessage: number;
  messagesPerSecond: number;
}

export interface SmtpLayerOptions {
  messages: number;
  warmup: number;
  size: number;
  sessions: number;
  rounds: number;
  host?: string;
  /** The targets measured; all three by default. */
  targets?: readonly SmtpLayerTarget[];
  /** Default: smtp-source when it is installed, else nodemailer. */
  client?: SmtpLayerClient;
  /** HIKYAKU_WIRE_VERSION of the whole ingress (2: body and envelope in one write). */
  wireVersion?: 1 | 2;
  /** Called with each run as it ends. */
  onRun?: (run: SmtpLayerRun) => void;
}

const SERVE = fileURLToPath(new URL('./smtp-layer-serve.ts', import.meta.url));

interface ServerProcess {
  pid: number | undefined;
  port: number;
  messages(): Promise<number>;
  stop(): Promise<void>;
}

/** The whole ingress: a local stack of the ingress alone, its count the stored bodies. */
async function startIngress(host: string, wireVersion: 1 | 2): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-smtp-layer-'));
  try {
    const stack = await startLocalStack({
      // No sender runs: the route is never taken.
      pool: benchPool('127.0.0.10', 9),
      dataDir: join(dir, 'stack'),
      smtpHost: host,
      smtpPort: await freePort(),
      env: { HIKYAKU_LOG_LEVEL: 'warn', HIKYAKU_WIRE_VERSION: String(wireVersion) },
      invocation: servicesInvocation(false),
      startOnly: ['ingress'],
      onOutput: printErrors,
    });
    const nats = await connectNats({ url: stack.natsUrl, name: 'bench-smtp-layer' }).catch(
      async (err: unknown) => {
        await stack.stop();
        throw err;
      },
    );
    return {
      pid: stack.services.ingress.pid,
      port: stack.smtpPort,
      messages: async () => (await nats.jsm.streams.info(STREAMS.bodies)).state.messages,
      stop: async () => {
        await nats.nc.close();
        await stack.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startServer(kind: SmtpLayerServer, host: string): Promise<ServerProcess> {
  const port = await freePort();
  // Without the source condition @hikyaku/ingress resolves to its compiled build.
  const child = fork(SERVE, [kind, host, String(port)], {
    execArgv: [...SERVICE_NODE_FLAGS, '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { ready?: number }) => {
      if (message.ready) resolve(message.ready);
    });
    child.once('exit', (code) =>
      reject(new Error(`${kind} server exited ${code} before listening`)),
    );
  });
  const messages = () =>
    new Promise<number>((resolve) => {
      child.once('message', (message: { messages: number }) => resolve(message.messages));
      child.send('count');
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) {
        resolve();
        return;
      }
      child.once('exit', () => resolve());
      child.disconnect();
    });
  return { pid: child.pid, port: ready, messages, stop };
}

function startTarget(
  target: SmtpLayerTarget,
  host: string,
  wireVersion: 1 | 2,
): Promise<ServerProcess> {
  return target === 'ingress' ? startIngress(host, wireVersion) : startServer(target, host);
}

/** The benchmark pool's routed domain, which the whole ingress accepts. */
const RCPT_DOMAIN = 'example.test';

/** `size` bytes of message: a header and lines of 78 characters. */
function messageOfSize(size: number): string {
  const head = 'From: bench@bench.test\r\nSubject: smtp layer\r\n\r\n';
  const line = `${'x'.repeat(76)}\r\n`;
  const body = line.repeat(Math.max(0, Math.ceil((size - head.length) / line.length)));
  return head + body;
}

/** nodemailer: a connection per message (QUIT after each), or `sessions` pooled ones. */
async function sendWithNodemailer(
  host: string,
  port: number,
  options: SmtpLayerOptions,
  reuse: boolean,
  messages: number,
): Promise<void> {
  const transport = reuse
    ? createTransport({
        host,
        port,
        pool: true,
        maxConnections: options.sessions,
        maxMessages: Infinity,
      })
    : createTransport({ host, port });
  const raw = messageOfSize(options.size);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: options.sessions }, async () => {
        while (next < messages) {
          const n = next++;
          await transport.sendMail({
            envelope: { from: 'bench@bench.test', to: `rcpt${n}@${RCPT_DOMAIN}` },
            raw,
          });
        }
      }),
    );
  } finally {
    transport.close();
  }
}

async function send(
  server: ServerProcess,
  host: string,
  options: SmtpLayerOptions,
  client: SmtpLayerClient,
  mode: SmtpLayerMode,
  messages: number,
): Promise<void> {
  const before = await server.messages();
  if (client === 'nodemailer') {
    await sendWithNodemailer(host, server.port, options, mode === 'reused', messages);
  } else {
    await runSmtpSource({
      host,
      port: server.port,
      sessions: options.sessions,
      messages,
      size: options.size,
      reuse: mode === 'reused',
      to: `rcpt@${RCPT_DOMAIN}`,
    });
  }
  const answered = (await server.messages()) - before;
  if (answered !== messages) {
    throw new Error(`${mode}: the server answered ${answered} of ${messages} messages`);
  }
}

export async function measureSmtpLayer(options: SmtpLayerOptions): Promise<SmtpLayerRun[]> {
  const host = options.host ?? '127.0.0.1';
  const targets = options.targets ?? SMTP_LAYER_TARGETS;
  const client = options.client ?? (smtpSourceAvailable() ? 'smtp-source' : 'nodemailer');
  const runs: SmtpLayerRun[] = [];
  for (let round = 1; round <= options.rounds; round += 1) {
    // Alternate the order, so no target always meets the machine first.
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const kind of order) {
      const server = await startTarget(kind, host, options.wireVersion ?? 2);
      try {
        for (const mode of ['new-connection', 'reused'] as const) {
          if (options.warmup > 0) await send(server, host, options, client, mode, options.warmup);
          const cpuBefore = cpuSeconds(server.pid) ?? 0;
          const from = monotonicMicros();
          await send(server, host, options, client, mode, options.messages);
          const seconds = (monotonicMicros() - from) / 1e6;
          const cpu = (cpuSeconds(server.pid) ?? 0) - cpuBefore;
          const run: SmtpLayerRun = {
            server: kind,
            mode,
            client,
            round,
            messages: options.messages,
            size: options.size,
            sessions: options.sessions,
            cpuMsPerMessage: Math.round((cpu * 1e6) / options.messages) / 1e3,
            messagesPerSecond: Math.round(options.messages / seconds),
          };
          runs.push(run);
          options.onRun?.(run);
        }
      } finally {
        await server.stop();
      }
    }
  }
  return runs;
}

/**
 * Median CPU ms per message per target and mode, and the differences: the ingress's own
 * work (the whole ingress beyond its SMTP layer) and the SMTP layer's excess over the
 * bare socket. A target not measured counts as 0.
 */
export function summarizeSmtpLayer(runs: SmtpLayerRun[]) {
  // To the microsecond, as each run's figure is.
  const round = (value: number) => Math.round(value * 1e3) / 1e3;
  return (['new-connection', 'reused'] as const).map((mode) => {
    const of = (server: SmtpLayerTarget) =>
      round(
        median(
          runs.filter((r) => r.server === server && r.mode === mode).map((r) => r.cpuMsPerMessage),
        ),
      );
    const ingress = of('ingress');
    const ingressLayer = of('ingress-layer');
    const socket = of('socket');
    return {
      mode,
      ingressCpuMs: ingress,
      ingressLayerCpuMs: ingressLayer,
      socketCpuMs: socket,
      ownWorkCpuMs: round(ingress - ingressLayer),
      excessCpuMs: round(ingressLayer - socket),
    };
  });
}

export class SmtpLayerUsageError extends Error {
  readonly code = 'HIKYAKU_BENCH_USAGE';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '6000' },
      warmup: { type: 'string', default: '3000' },
      size: { type: 'string', default: '10240' },
      sessions: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '3' },
      'wire-version': { type: 'string', default: '2' },
      client: { type: 'string' },
    },
  });
  const client = values.client;
  if (client !== undefined && client !== 'smtp-source' && client !== 'nodemailer') {
    throw new SmtpLayerUsageError(`--client must be smtp-source or nodemailer, not ${client}`);
  }
  const wireVersion = values['wire-version'];
  if (wireVersion !== '1' && wireVersion !== '2') {
    throw new SmtpLayerUsageError(`--wire-version must be 1 or 2, not ${wireVersion}`);
  }
  const number = (
    name: 'messages' | 'warmup' | 'size' | 'sessions' | 'rounds',
    least: number,
  ): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < least) {
      throw new SmtpLayerUsageError(
        `--${name} must be a whole number of at least ${least}, not ${values[name]}`,
      );
    }
    return value;
  };
  assertBuildCurrent();
  const runs = await measureSmtpLayer({
    messages: number('messages', 1),
    warmup: number('warmup', 0),
    size: number('size', 1),
    sessions: number('sessions', 1),
    rounds: number('rounds', 1),
    wireVersion: wireVersion === '1' ? 1 : 2,
    ...(client ? { client } : {}),
    onRun: (run) => console.log(JSON.stringify(run)),
  });
  for (const line of summarizeSmtpLayer(runs)) console.log(JSON.stringify({ median: line }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    const usage =
      err instanceof SmtpLayerUsageError ||
      String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    process.exit(usage ? 2 : 1);
  });
}
