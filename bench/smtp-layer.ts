/**
 * The ingress's SMTP layer beside the floor a bare socket sets:
 *
 *   npm run build && node --import tsx bench/smtp-layer.ts [--messages 6000] [--warmup 3000]
 *     [--size 10240] [--sessions 20] [--rounds 3]
 *
 * Each round starts both servers of smtp-layer-servers.ts in turn, each in a process of
 * its own run with the services' Node flags and their compiled code, and sends them
 * `--messages` messages with Postfix's smtp-source, first with a new connection per
 * message, then over reused connections, after `--warmup` messages in each mode. It prints
 * one JSON line per run — the server's CPU milliseconds per message, from /proc — and then
 * the medians. The difference between the two servers is what the SMTP library and the
 * ingress's overrides cost beyond reading and writing the same lines on a socket; the
 * ingress's own work (pool, limits, suppression lookup, header fields, the store) is not
 * in either.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SERVICE_NODE_FLAGS } from '@hikyaku/local';
import { freePort } from '@hikyaku/testing';
import { assertBuildCurrent } from './compiled-build.ts';
import { runSmtpSource } from './postfix-tools.ts';
import { cpuSeconds, monotonicMicros } from './proc-stats.ts';
import { SMTP_LAYER_SERVERS, type SmtpLayerServer } from './smtp-layer-servers.ts';

export type SmtpLayerMode = 'new-connection' | 'reused';

export interface SmtpLayerRun {
  server: SmtpLayerServer;
  mode: SmtpLayerMode;
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
  /** Called with each run as it ends. */
  onRun?: (run: SmtpLayerRun) => void;
}

const SERVE = fileURLToPath(new URL('./smtp-layer-serve.ts', import.meta.url));

interface ServerProcess {
  child: ChildProcess;
  port: number;
  messages(): Promise<number>;
  stop(): Promise<void>;
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
  return { child, port: ready, messages, stop };
}

async function send(
  server: ServerProcess,
  host: string,
  options: SmtpLayerOptions,
  mode: SmtpLayerMode,
  messages: number,
): Promise<void> {
  const before = await server.messages();
  await runSmtpSource({
    host,
    port: server.port,
    sessions: options.sessions,
    messages,
    size: options.size,
    reuse: mode === 'reused',
    to: 'rcpt@smtp-layer.bench.test',
  });
  const answered = (await server.messages()) - before;
  if (answered !== messages) {
    throw new Error(`${mode}: the server answered ${answered} of ${messages} messages`);
  }
}

export async function measureSmtpLayer(options: SmtpLayerOptions): Promise<SmtpLayerRun[]> {
  const host = options.host ?? '127.0.0.1';
  const runs: SmtpLayerRun[] = [];
  for (let round = 1; round <= options.rounds; round += 1) {
    // Alternate which server goes first, so neither always meets the machine first.
    const order = round % 2 === 1 ? SMTP_LAYER_SERVERS : [...SMTP_LAYER_SERVERS].reverse();
    for (const kind of order) {
      const server = await startServer(kind, host);
      try {
        for (const mode of ['new-connection', 'reused'] as const) {
          if (options.warmup > 0) await send(server, host, options, mode, options.warmup);
          const cpuBefore = cpuSeconds(server.child.pid) ?? 0;
          const from = monotonicMicros();
          await send(server, host, options, mode, options.messages);
          const seconds = (monotonicMicros() - from) / 1e6;
          const cpu = (cpuSeconds(server.child.pid) ?? 0) - cpuBefore;
          const run: SmtpLayerRun = {
            server: kind,
            mode,
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value =
    sorted.length % 2 === 1
      ? (sorted[mid] ?? 0)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  // To the microsecond, as each run's figure is.
  return Math.round(value * 1e3) / 1e3;
}

/** Median CPU ms per message per server and mode, and the ingress layer's excess. */
export function summarizeSmtpLayer(runs: SmtpLayerRun[]) {
  return (['new-connection', 'reused'] as const).map((mode) => {
    const of = (server: SmtpLayerServer) =>
      median(
        runs.filter((r) => r.server === server && r.mode === mode).map((r) => r.cpuMsPerMessage),
      );
    const ingressLayer = of('ingress-layer');
    const socket = of('socket');
    return {
      mode,
      ingressLayerCpuMs: ingressLayer,
      socketCpuMs: socket,
      excessCpuMs: Math.round((ingressLayer - socket) * 1e3) / 1e3,
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
    },
  });
  const number = (name: keyof typeof values, least: number): number => {
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
