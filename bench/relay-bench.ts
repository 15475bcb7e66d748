/**
 * End-to-end benchmark: a fresh local stack (own nats-server and redis-server, the three
 * services as processes) relaying to a fast receiving sink on loopback. It pushes N
 * messages of S bytes over C concurrent SMTP sessions, waits until every accepted message
 * reached the sink, and prints one JSON line.
 *
 *   npm run bench -- --messages 20000 --size 10240 --sessions 20
 *
 * With --rate R the messages are offered at R per second over all sessions together (a
 * lightly loaded relay); without it each session sends as fast as it is answered. With
 * --warmup W, W messages are relayed unpaced first (with --against postfix: by each relay in
 * each mode) and left out of the counts and CPU figures (not of the peak memory).
 *
 * With --retry a message answered with a temporary failure (4xx) is sent again after a
 * moment, as an MTA would, until it is accepted: `retried` counts those answers.
 *
 * With --attach [FILE] it starts nothing and measures the local stack `npm start` runs,
 * found through its stack file (.hikyaku/stack.json by default): it sends to that stack's
 * capture domain and counts the scheduler's delivered events on NATS.
 *
 * With --against postfix it compares hikyaku with a Postfix relay on this machine
 * (against-postfix.ts): Postfix's smtp-source and smtp-sink, both connection modes,
 * --rounds interleaved pairs.
 *
 * With --wire-version V (1 or 2) the stack it starts runs with HIKYAKU_WIRE_VERSION=V (at 2
 * the ingress stores an inline body and its envelope in one write); without it, the
 * services' default or the variable as exported.
 *
 * With --nats-cores N the nats-server of a stack it starts runs on N cores (GOMAXPROCS); 0
 * leaves Go's default (every core of the machine). Without it, GOMAXPROCS as exported, or 1
 * as in local mode (LOCAL_NATS_CORES).
 *
 * A stack of its own runs the compiled services, as `npm start` and the image do
 * (compiled-build.ts); --from-sources runs them through tsx instead.
 *
 * With --cpu-prof DIR each service of a stack it starts writes a V8 CPU profile
 * (`.cpuprofile`) into DIR when the stack stops: Node refuses `--cpu-prof` in NODE_OPTIONS,
 * so this is how the services of a benchmark are profiled.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { codecs, connectNats, type NatsCredentials, SUBJECTS, WIRE_VERSIONS } from '@hikyaku/core';
import {
  assertStackRunning,
  DEFAULT_STACK_FILE,
  NoRunningStackError,
  readStackFile,
  startLocalStack,
} from '@hikyaku/local';
import { BODY_REMOVALS } from '@hikyaku/scheduler';
import { freePort, sleep, startSmtpSink } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { compareWithPostfix } from './against-postfix.ts';
import { benchPool, printErrors } from './bench-pool.ts';
import { BuildOutdatedError, servicesInvocation } from './compiled-build.ts';
import { PostfixMissingError } from './postfix-tools.ts';
import { cpuSeconds, monotonicMicros, peakRssMiB, writeCalls } from './proc-stats.ts';
import { type RelayFormat, relayFormat } from './relay-format.ts';

/** `--attach` takes an optional path, which parseArgs cannot express: a bare flag gets the default. */
function withAttachDefault(args: string[]): string[] {
  return args.flatMap((arg, i) => {
    if (arg === '--attach=') return [`--attach=${DEFAULT_STACK_FILE}`];
    if (arg !== '--attach') return [arg];
    const next = args[i + 1];
    return next === undefined || next.startsWith('-') ? [arg, DEFAULT_STACK_FILE] : [arg];
  });
}

const { values } = parseArgs({
  args: withAttachDefault(process.argv.slice(2)),
  options: {
    messages: { type: 'string' },
    size: { type: 'string', default: '10240' },
    sessions: { type: 'string', default: '20' },
    'timeout-s': { type: 'string', default: '900' },
    attach: { type: 'string' },
    retry: { type: 'boolean', default: false },
    against: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    rate: { type: 'string' },
    warmup: { type: 'string' },
    'wire-version': { type: 'string' },
    'body-removal': { type: 'string' },
    'nats-cores': { type: 'string' },
    'from-sources': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
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

/**
 * The comparison with Postfix sends more and warms both relays up first by default: what
 * docs/performance.md's acceptance command measures.
 */
const defaults =
  values.against === undefined
    ? { messages: '2000', warmup: '0' }
    : { messages: '3000', warmup: '3000' };
const messages = positive('messages', values.messages ?? defaults.messages);
const size = positive('size', values.size);
const sessions = positive('sessions', values.sessions);
const timeoutMs = positive('timeout-s', values['timeout-s']) * 1000;
/** Messages offered per second over all sessions together; unpaced when not given. */
const rate = values.rate === undefined ? undefined : positive('rate', values.rate);
/** Messages sent unpaced and delivered before the measured run, left out of every figure but the peaks. */
const warmupText = values.warmup ?? defaults.warmup;
const warmup = warmupText === '0' ? 0 : positive('warmup', warmupText);
const wireVersion = values['wire-version'] ?? process.env.HIKYAKU_WIRE_VERSION;
if (wireVersion !== undefined && !WIRE_VERSIONS.map(String).includes(wireVersion)) {
  process.stderr.write(
    `bench: --wire-version must be one of ${WIRE_VERSIONS.join(', ')}, got "${wireVersion}"\n`,
  );
  process.exit(2);
}
const bodyRemoval = values['body-removal'] ?? process.env.HIKYAKU_BODY_REMOVAL;
if (bodyRemoval !== undefined && !BODY_REMOVALS.map(String).includes(bodyRemoval)) {
  process.stderr.write(
    `bench: --body-removal must be one of ${BODY_REMOVALS.join(', ')}, got "${bodyRemoval}"\n`,
  );
  process.exit(2);
}
/** --nats-cores as given (0: Go's default); natsCoresOf (@hikyaku/local) decides what absent means. */
function requestedNatsCores(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  return raw === '0' ? 0 : positive('nats-cores', raw);
}
const natsCores = requestedNatsCores(values['nats-cores']);
/**
 * The Node arguments that start the services of a stack the benchmark starts: with
 * --cpu-prof, each writes its CPU profile into that folder when it stops.
 */
function stackInvocation(): string[] {
  const invocation = servicesInvocation(values['from-sources']);
  const dir = values['cpu-prof'];
  if (dir === undefined) return invocation;
  if (dir === '') {
    process.stderr.write('bench: --cpu-prof takes the folder the profiles go to\n');
    process.exit(2);
  }
  const folder = resolve(dir);
  mkdirSync(folder, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${folder}`, ...invocation];
}

/** The environment of the services of a stack the benchmark starts. */
const serviceEnv: Record<string, string> = {
  HIKYAKU_LOG_LEVEL: 'warn',
  ...(wireVersion === undefined ? {} : { HIKYAKU_WIRE_VERSION: wireVersion }),
  ...(bodyRemoval === undefined ? {} : { HIKYAKU_BODY_REMOVAL: bodyRemoval }),
};

function message(id: number, rcpt: string): Buffer {
  const head =
    `From: <bench@hikyaku.test>\r\nTo: <${rcpt}>\r\nSubject: bench ${id}\r\n` +
    `X-Bench-Id: ${id}\r\nMessage-ID: <bench-${id}@hikyaku.test>\r\nDate: Mon, 30 Nov 2026 00:00:00 +0000\r\n\r\n`;
  const line = `${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}\r\n`;
  const body = line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length)));
  return Buffer.from(head + body).subarray(0, Math.max(size, head.length + 2));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const round2 = (n: number): number => Math.round(n * 100) / 100;

const PROCESSES = ['ingress', 'scheduler', 'sender', 'natsServer', 'redisServer'] as const;
type Pids = Record<(typeof PROCESSES)[number], number | undefined>;
type Figures = Record<(typeof PROCESSES)[number], number | null>;

function perProcess(read: (name: (typeof PROCESSES)[number]) => number | null): Figures {
  return Object.fromEntries(PROCESSES.map((name) => [name, read(name)])) as Figures;
}

const peakRss = (pids: Pids): Figures => perProcess((name) => peakRssMiB(pids[name]));
const cpu = (pids: Pids): Figures =>
  perProcess((name) => {
    const seconds = cpuSeconds(pids[name]);
    return seconds === null ? null : round1(seconds);
  });

const exactCpu = (pids: Pids): Figures => perProcess((name) => cpuSeconds(pids[name]));
const writes = (pids: Pids): Figures => perProcess((name) => writeCalls(pids[name]));

/** What the processes used between two readings (null where either is unknown). */
function since(before: Figures, after: Figures, round = round1): Figures {
  return perProcess((name) => {
    const a = after[name];
    const b = before[name];
    return a === null || b === null ? null : round(a - b);
  });
}

/**
 * Counts the messages delivered so far: `seen(id)` is called by whatever observes a
 * delivery, `wait` returns once `accepted` of them were seen or the deadline passed.
 */
function deliveryCounter() {
  const delivered = new Set<number>();
  let lastDeliveryAt = 0;
  return {
    seen(id: number): void {
      delivered.add(id);
      lastDeliveryAt = Date.now();
    },
    get count(): number {
      return delivered.size;
    },
    /** When the last of them arrived, or now if not all did. */
    async wait(accepted: number, deadline: number): Promise<number> {
      while (delivered.size < accepted && Date.now() < deadline) await sleep(50);
      return delivered.size >= accepted ? lastDeliveryAt : Date.now();
    },
  };
}

interface Submission {
  accepted: number;
  refused: number;
  retried: number;
  latencies: number[];
  started: number;
  /** The start on the monotonic clock of CPU profiles, in microseconds. */
  startedUs: number;
  acceptedAt: number;
}

/**
 * Sends `count` messages (ids from `firstId`) over `sessions` reused SMTP connections,
 * offered at `pace` per second when given.
 */
async function submit(
  host: string,
  port: number,
  rcptFor: (id: number) => string,
  {
    count = messages,
    firstId = 0,
    pace = rate,
  }: { count?: number; firstId?: number; pace?: number } = {},
) {
  const client = createTransport({
    host,
    port,
    pool: true,
    maxConnections: sessions,
    maxMessages: Number.POSITIVE_INFINITY,
    ignoreTLS: true,
  });
  const latencies: number[] = [];
  let accepted = 0;
  let refused = 0;
  let retried = 0;
  let next = 0;
  const started = Date.now();
  const startedUs = monotonicMicros();
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      while (next < count) {
        const n = next++;
        const id = firstId + n;
        if (pace !== undefined) {
          // Message n is offered n/pace seconds after the start, whatever the sessions do.
          const due = started + (n * 1000) / pace - Date.now();
          if (due > 0) await sleep(due);
        }
        const rcpt = rcptFor(id);
        const t0 = performance.now();
        for (;;) {
          try {
            await client.sendMail({
              envelope: { from: 'bench@hikyaku.test', to: [rcpt] },
              raw: message(id, rcpt),
            });
            latencies.push(performance.now() - t0);
            accepted++;
          } catch (err) {
            const code = (err as { responseCode?: number }).responseCode ?? 0;
            if (values.retry && code >= 400 && code < 500) {
              retried++;
              await sleep(200);
              continue;
            }
            refused++;
          }
          break;
        }
      }
    }),
  );
  const acceptedAt = Date.now();
  client.close();
  return {
    accepted,
    refused,
    retried,
    latencies,
    started,
    startedUs,
    acceptedAt,
  } satisfies Submission;
}

function report(
  mode: 'own-stack' | 'attached',
  run: Submission,
  delivered: number,
  finished: number,
  peakRssMiB: Figures,
  cpuSeconds: Figures,
  runCpuSeconds: Figures,
  runWrites: Figures,
  format: RelayFormat | null,
) {
  // Called once every message arrived: the run's window ends about now.
  const windowUs = { from: run.startedUs, to: monotonicMicros() };
  run.latencies.sort((a, b) => a - b);
  return {
    mode,
    // Which build of the services ran (compiled-build.ts); an attached stack runs its own.
    services: mode === 'attached' ? null : values['from-sources'] ? 'sources' : 'compiled',
    messages,
    size,
    sessions,
    rate: rate ?? null,
    warmup,
    wireVersion: format?.wireVersion ?? null,
    bodyRemoval: format?.bodyRemoval ?? null,
    sent: messages,
    accepted: run.accepted,
    refused: run.refused,
    retried: run.retried,
    delivered,
    lost: run.accepted - delivered,
    acceptedPerSecond: round1(run.accepted / ((run.acceptedAt - run.started) / 1000)),
    deliveredPerSecond: round1(delivered / ((finished - run.started) / 1000)),
    // The run on the clock of the services' CPU profiles: profile-summary.ts --window.
    windowUs,
    acceptLatencyMs: {
      p50: round1(percentile(run.latencies, 50)),
      p99: round1(percentile(run.latencies, 99)),
    },
    peakRssMiB,
    // CPU seconds each process spent: where the time goes, whatever else the machine does.
    cpuSeconds: { benchClient: Math.round(process.cpuUsage().user / 1e5) / 10, ...cpuSeconds },
    // What each process spent during the run alone (start-up left out), per delivered message.
    cpuMsPerMessage: perProcess((name) => {
      const seconds = runCpuSeconds[name];
      return seconds === null || delivered === 0 ? null : round2((seconds * 1000) / delivered);
    }),
    // Write system calls per delivered message: each wakes the process that reads it.
    writesPerMessage: perProcess((name) => {
      const calls = runWrites[name];
      return calls === null || delivered === 0 ? null : round1(calls / delivered);
    }),
  };
}

async function ownStack(invocation: string[]) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-bench-'));
  const counter = deliveryCounter();
  const warmed = deliveryCounter();
  const sink = await startSmtpSink({
    host: '127.0.0.10',
    port: 0,
    keep: false,
    onMessage(m) {
      const id = /X-Bench-Id: (\d+)/.exec(m.raw.subarray(0, 512).toString('latin1'))?.[1];
      if (id === undefined) return;
      // Warm-up messages are numbered after the measured ones.
      if (Number(id) >= messages) warmed.seen(Number(id));
      else counter.seen(Number(id));
    },
  });
  try {
    const stack = await startLocalStack({
      pool: benchPool('127.0.0.10', sink.port),
      dataDir,
      smtpPort: await freePort(),
      env: serviceEnv,
      ...(natsCores === undefined ? {} : { natsCores }),
      invocation,
      onOutput: printErrors,
    });
    try {
      const pids: Pids = {
        ingress: stack.services.ingress.pid,
        scheduler: stack.services.scheduler.pid,
        sender: stack.services.sender.pid,
        natsServer: stack.nats?.process.pid,
        redisServer: stack.redis?.process.pid,
      };
      const rcptFor = (id: number): string => `rcpt${id}@example.test`;
      if (warmup > 0) {
        const warm = await submit(stack.smtpHost, stack.smtpPort, rcptFor, {
          count: warmup,
          firstId: messages,
          pace: undefined,
        });
        await warmed.wait(warm.accepted, warm.started + timeoutMs);
      }
      const before = exactCpu(pids);
      const writesBefore = writes(pids);
      const run = await submit(stack.smtpHost, stack.smtpPort, rcptFor);
      const finished = await counter.wait(run.accepted, run.started + timeoutMs);
      const used = since(before, exactCpu(pids), (n) => n);
      const written = since(writesBefore, writes(pids), (n) => n);
      const nats = await connectNats({ url: stack.natsUrl, name: 'bench-relay-format' });
      const format = await relayFormat(nats.js, serviceEnv).finally(() => nats.nc.close());
      return report(
        'own-stack',
        run,
        counter.count,
        finished,
        peakRss(pids),
        cpu(pids),
        used,
        written,
        format,
      );
    } finally {
      await stack.stop();
    }
  } finally {
    await sink.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The stack file holds no secrets: a NATS server that wants credentials gets them from the
 * variables the services read.
 */
function natsCredentials(): NatsCredentials {
  const { NATS_TOKEN: token, NATS_USER: user, NATS_PASSWORD: pass } = process.env;
  return { ...(token ? { token } : {}), ...(user ? { user, pass: pass ?? '' } : {}) };
}

async function attached(path: string) {
  const stack = readStackFile(path);
  assertStackRunning(path, stack);
  // Recipients carry this run's id, so deliveries of another run, or of mail sent to the
  // stack by hand, are not counted.
  const prefix = `bench-${randomBytes(4).toString('hex')}-`;
  const domain = stack.captureDomain.toLowerCase();
  const counter = deliveryCounter();
  const nats = await connectNats({
    url: stack.natsUrl,
    name: `${prefix}events`,
    credentials: natsCredentials(),
    // A stack file naming a NATS server that is gone should fail the run, not hang it.
    maxReconnectAttempts: 20,
  });
  try {
    const sub = nats.nc.subscribe(SUBJECTS.deliveryEventsOfType(stack.pool, 'delivered'), {
      callback(err, msg) {
        if (err) return;
        let rcpt: string;
        try {
          rcpt = codecs.event.decode(msg.data).rcpt.toLowerCase();
        } catch {
          return;
        }
        const at = rcpt.lastIndexOf('@');
        const local = rcpt.slice(0, at);
        if (rcpt.slice(at + 1) !== domain || !local.startsWith(prefix)) return;
        const id = Number(local.slice(prefix.length));
        if (Number.isInteger(id)) counter.seen(id);
      },
    });
    // The server knows of the subscription before the first message is sent.
    await nats.nc.flush();
    const pids: Pids = {
      ingress: stack.pids.ingress,
      scheduler: stack.pids.scheduler,
      sender: stack.pids.sender,
      natsServer: stack.pids.natsServer,
      redisServer: stack.pids.redisServer,
    };
    // The stack ran before this run and runs on after it: count only what the run used.
    const cpuBefore = exactCpu(pids);
    const writesBefore = writes(pids);
    const run = await submit(stack.smtp.host, stack.smtp.port, (id) => `${prefix}${id}@${domain}`);
    const finished = await counter.wait(run.accepted, run.started + timeoutMs);
    const cpuAfter = exactCpu(pids);
    const written = since(writesBefore, writes(pids), (n) => n);
    sub.unsubscribe();
    const used = since(cpuBefore, cpuAfter, (n) => n);
    return report(
      'attached',
      run,
      counter.count,
      finished,
      peakRss(pids),
      since(cpuBefore, cpuAfter),
      used,
      written,
      null,
    );
  } finally {
    await nats.nc.close();
  }
}

async function main(): Promise<void> {
  if (values.against !== undefined) {
    if (values.against !== 'postfix') {
      process.stderr.write(`bench: --against takes "postfix", got "${values.against}"\n`);
      process.exit(2);
    }
    await compareWithPostfix({
      messages,
      size,
      sessions,
      rounds: positive('rounds', values.rounds),
      warmup,
      timeoutMs,
      natsCores,
      env: serviceEnv,
      invocation: stackInvocation(),
    });
    return;
  }
  if (warmup > 0 && values.attach !== undefined) {
    process.stderr.write(
      'bench: --warmup needs a stack of its own; it does not go with --attach\n',
    );
    process.exit(2);
  }
  if (values['cpu-prof'] !== undefined && values.attach !== undefined) {
    process.stderr.write(
      'bench: --cpu-prof needs a stack of its own (its services start profiled); it does not go with --attach\n',
    );
    process.exit(2);
  }
  const result =
    values.attach !== undefined
      ? await attached(values.attach || DEFAULT_STACK_FILE)
      : await ownStack(stackInvocation());
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.lost === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  if (
    err instanceof NoRunningStackError ||
    err instanceof PostfixMissingError ||
    err instanceof BuildOutdatedError
  ) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`bench: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
