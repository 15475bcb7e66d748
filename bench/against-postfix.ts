/**
 * `npm run bench -- --against postfix`: the same smtp-source client and the same counting
 * smtp-sink, with a private Postfix relay and a hikyaku local stack side by side on this
 * machine. Runs are interleaved (Postfix, hikyaku, Postfix, hikyaku, …) in both connection
 * modes, so a change in the machine's load falls on both; the ratio of each pair is
 * printed, and the median of the pairs per mode.
 *
 * End-to-end rate: from smtp-source's first connection until the sink has received every
 * message of the run. Both relays keep running between runs, warm, as in production.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNats, type NatsHandles } from '@hikyaku/core';
import { natsCoresOf, startLocalStack } from '@hikyaku/local';
import { freePort, sleep, startNatsServer } from '@hikyaku/testing';
import { benchPool, printErrors } from './bench-pool.ts';
import {
  checkPostfixAvailable,
  postfixVersion,
  runSmtpSource,
  startCountingSink,
  startPostfixRelay,
} from './postfix-tools.ts';
import {
  contextSwitches,
  cpuSeconds,
  endedChildrenCpuSeconds,
  monotonicMicros,
  peakRssMiB,
  sampleAnonPeaks,
} from './proc-stats.ts';
import type { Window } from './profile-summary.ts';
import { relayFormat } from './relay-format.ts';
import { median } from './stats.ts';

const SINK_HOST = '127.0.0.10';
const MODES = ['connection-per-message', 'reused-connections'] as const;
type Mode = (typeof MODES)[number];

export interface ComparisonOptions {
  messages: number;
  size: number;
  sessions: number;
  rounds: number;
  /**
   * Messages relayed by each relay in each mode before the first measured run, left out of
   * every figure: both relays then run warm, their processes started and their code compiled.
   */
  warmup: number;
  timeoutMs: number;
  /** The cores (GOMAXPROCS) asked for hikyaku's nats-server, as natsCoresOf reads them. */
  natsCores: number | undefined;
  /** The environment of hikyaku's services (log level, HIKYAKU_WIRE_VERSION). */
  env: Record<string, string>;
  /** Node arguments that start the services (relay-bench.ts: the compiled build). */
  invocation: string[];
}

interface Run {
  relay: 'postfix' | 'hikyaku';
  mode: Mode;
  round: number;
  messages: number;
  received: number;
  lost: number;
  seconds: number;
  messagesPerSecond: number;
  /**
   * The run's start and end on the monotonic clock of the services' CPU profiles, in
   * microseconds: `profile-summary.ts --window FROM-TO` summarizes this run alone.
   */
  windowUs: Window;
  /** CPU milliseconds per relayed message, per process (Postfix: all its processes). */
  cpuMsPerMessage: Record<string, number>;
  /**
   * CPU milliseconds per message of the client (smtp-source) and the receiving sink, the
   * same programs for both relays: on a machine they share, what they use no relay can.
   */
  harnessCpuMsPerMessage: { smtpSource: number; smtpSink: number };
  /** Stored JetStream writes, Redis commands per message (hikyaku). */
  storedWritesPerMessage?: number;
  storedWritesPerStream?: Record<string, number>;
  redisCommandsPerMessage?: number;
  /** NATS messages the server received from clients and sent to them, per relayed message. */
  natsMessagesPerMessage?: { in: number; out: number };
  /**
   * Context switches per relayed message, per process and all its threads (hikyaku):
   * involuntary ones count how often a process was put off a core it could have kept.
   */
  contextSwitchesPerMessage?: Record<string, { voluntary: number; involuntary: number }>;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** Every stream's last sequence: how many messages JetStream has stored in it so far. */
async function storedWrites(nats: NatsHandles): Promise<Map<string, number>> {
  const writes = new Map<string, number>();
  for await (const stream of nats.jsm.streams.list()) {
    writes.set(stream.config.name, stream.state.last_seq);
  }
  return writes;
}

/** Writes per message since `before`, per stream that grew, and in all. */
function writesPerMessage(
  before: Map<string, number>,
  after: Map<string, number>,
  messages: number,
) {
  const perStream: Record<string, number> = {};
  let total = 0;
  for (const [name, seq] of after) {
    const grown = seq - (before.get(name) ?? 0);
    if (grown > 0) perStream[name] = round2(grown / messages);
    total += grown;
  }
  return { storedWritesPerMessage: round2(total / messages), storedWritesPerStream: perStream };
}

function redisCommands(url: string): number {
  const { hostname, port } = new URL(url);
  const info = execFileSync('redis-cli', ['-h', hostname, '-p', port, 'info', 'stats'], {
    encoding: 'utf8',
  });
  // The INFO command itself counts once.
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

/**
 * Messages nats-server has received from and sent to its clients so far (its monitoring
 * endpoint's /varz): every publish, pull request, delivery, ack and reply counts.
 */
async function natsMessages(monitorPort: number): Promise<{ in: number; out: number }> {
  const response = await fetch(`http://127.0.0.1:${monitorPort}/varz`);
  const varz = (await response.json()) as { in_msgs: number; out_msgs: number };
  return { in: varz.in_msgs, out: varz.out_msgs };
}

/** Each count's growth from `before` to `after`, per relayed message. */
function perMessage<K extends string>(
  before: Record<K, number>,
  after: Record<K, number>,
  messages: number,
): Record<K, number> {
  const each = {} as Record<K, number>;
  for (const key of Object.keys(before) as K[]) {
    each[key] = round2((after[key] - before[key]) / messages);
  }
  return each;
}

async function waitForSink(count: () => number, target: number, deadline: number): Promise<void> {
  while (count() < target && Date.now() < deadline) await sleep(20);
}

export async function compareWithPostfix(options: ComparisonOptions): Promise<void> {
  checkPostfixAvailable();
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-vs-postfix-'));
  const cleanup: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    await compare(options, dir, cleanup);
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

async function compare(
  options: ComparisonOptions,
  dir: string,
  cleanup: (() => unknown)[],
): Promise<void> {
  const sink = await startCountingSink(SINK_HOST, await freePort());
  cleanup.push(() => sink.stop());
  const postfix = await startPostfixRelay({
    dir: join(dir, 'postfix'),
    host: '127.0.0.1',
    port: await freePort(),
    relayHost: SINK_HOST,
    relayPort: sink.port,
  });
  cleanup.push(() => postfix.stop());
  // Started here rather than by the stack, with its monitoring port, to count NATS messages.
  const natsMonitorPort = await freePort();
  const natsCores = natsCoresOf(options.natsCores);
  const natsServer = await startNatsServer({
    port: await freePort(),
    dataDir: join(dir, 'nats'),
    monitorPort: natsMonitorPort,
    ...(natsCores ? { cores: natsCores } : {}),
  });
  cleanup.push(() => natsServer.stop());
  const stack = await startLocalStack({
    natsUrl: natsServer.url,
    pool: benchPool(SINK_HOST, sink.port),
    dataDir: join(dir, 'hikyaku'),
    smtpPort: await freePort(),
    env: options.env,
    invocation: options.invocation,
    onOutput: printErrors,
  });
  cleanup.push(() => stack.stop());
  const nats = await connectNats({ url: stack.natsUrl, name: 'bench-vs-postfix' });
  cleanup.push(() => nats.nc.close());
  const pids = {
    ingress: stack.services.ingress.pid,
    scheduler: stack.services.scheduler.pid,
    sender: stack.services.sender.pid,
    natsServer: natsServer.process.pid,
    redisServer: stack.redis?.process.pid,
  };
  const anonPeaks = sampleAnonPeaks(pids);
  cleanup.push(() => anonPeaks.stop());
  /**
   * smtp-source sends `messages` through the relay in the mode, and the run ends when the
   * sink has them all (or the timeout passed): the messages the sink received and the seconds.
   */
  async function relayThrough(
    relay: 'postfix' | 'hikyaku',
    mode: Mode,
    messages: number,
    to: string,
  ) {
    const base = sink.count();
    const started = Date.now();
    const from = monotonicMicros();
    await runSmtpSource({
      ...(relay === 'postfix'
        ? { host: postfix.host, port: postfix.port }
        : { host: stack.smtpHost, port: stack.smtpPort }),
      sessions: options.sessions,
      messages,
      size: options.size,
      reuse: mode === 'reused-connections',
      to,
    });
    await waitForSink(sink.count, base + messages, started + options.timeoutMs);
    const ended = monotonicMicros();
    return {
      received: sink.count() - base,
      seconds: (ended - from) / 1e6,
      windowUs: { from, to: ended },
    };
  }
  if (options.warmup > 0) {
    process.stderr.write(
      `bench: warming both relays up with ${options.warmup} messages per mode\n`,
    );
    for (const mode of MODES) {
      for (const relay of ['postfix', 'hikyaku'] as const) {
        await relayThrough(relay, mode, options.warmup, `${relay}-warmup@example.test`);
        await sleep(2000);
      }
    }
  }
  const runs: Run[] = [];
  process.stderr.write(
    `bench: Postfix ${postfixVersion()} and hikyaku, ${options.rounds} interleaved pairs per mode, ${options.messages} messages of ${options.size} bytes over ${options.sessions} sessions\n`,
  );
  for (let round = 1; round <= options.rounds; round++) {
    for (const mode of MODES) {
      for (const relay of ['postfix', 'hikyaku'] as const) {
        const cpuBefore =
          relay === 'postfix'
            ? { postfix: postfix.cpuSeconds() }
            : Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) ?? 0]));
        const writesBefore = relay === 'hikyaku' ? await storedWrites(nats) : new Map();
        const redisBefore = relay === 'hikyaku' ? redisCommands(stack.redisUrl) : 0;
        const natsBefore =
          relay === 'hikyaku' ? await natsMessages(natsMonitorPort) : { in: 0, out: 0 };
        const switchesBefore =
          relay === 'hikyaku'
            ? Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, contextSwitches(pid)]))
            : {};
        const harnessBefore = {
          smtpSource: endedChildrenCpuSeconds(),
          smtpSink: cpuSeconds(sink.pid) ?? 0,
        };
        const { received, seconds, windowUs } = await relayThrough(
          relay,
          mode,
          options.messages,
          `${relay}-${round}@example.test`,
        );
        const harnessCpuMsPerMessage = {
          smtpSource: round2(
            ((endedChildrenCpuSeconds() - harnessBefore.smtpSource) * 1000) / options.messages,
          ),
          smtpSink: round2(
            (((cpuSeconds(sink.pid) ?? 0) - harnessBefore.smtpSink) * 1000) / options.messages,
          ),
        };
        const cpuMsPerMessage: Record<string, number> = {};
        if (relay === 'postfix') {
          cpuMsPerMessage.postfix = round2(
            ((postfix.cpuSeconds() - cpuBefore.postfix!) * 1000) / options.messages,
          );
        } else {
          for (const [name, pid] of Object.entries(pids)) {
            cpuMsPerMessage[name] = round2(
              (((cpuSeconds(pid) ?? 0) - (cpuBefore[name] ?? 0)) * 1000) / options.messages,
            );
          }
        }
        const run: Run = {
          relay,
          mode,
          round,
          messages: options.messages,
          received,
          lost: Math.max(0, options.messages - received),
          seconds: round2(seconds),
          messagesPerSecond: round2(received / seconds),
          windowUs,
          cpuMsPerMessage,
          harnessCpuMsPerMessage,
          ...(relay === 'hikyaku'
            ? {
                ...writesPerMessage(writesBefore, await storedWrites(nats), options.messages),
                redisCommandsPerMessage: round2(
                  (redisCommands(stack.redisUrl) - redisBefore - 1) / options.messages,
                ),
                natsMessagesPerMessage: perMessage(
                  natsBefore,
                  await natsMessages(natsMonitorPort),
                  options.messages,
                ),
                contextSwitchesPerMessage: Object.fromEntries(
                  Object.entries(pids).flatMap(([name, pid]) => {
                    const before = switchesBefore[name];
                    const after = contextSwitches(pid);
                    if (!before || !after) return [];
                    return [[name, perMessage(before, after, options.messages)]];
                  }),
                ),
              }
            : {}),
        };
        runs.push(run);
        process.stdout.write(`${JSON.stringify(run)}\n`);
        // Let each relay finish what it does after the last delivery (results, cleanup).
        await sleep(2000);
      }
    }
  }
  const summary = Object.fromEntries(
    MODES.map((mode) => {
      const pairs = runs.filter((r) => r.mode === mode);
      const ratios: number[] = [];
      for (let round = 1; round <= options.rounds; round++) {
        const p = pairs.find((r) => r.relay === 'postfix' && r.round === round);
        const h = pairs.find((r) => r.relay === 'hikyaku' && r.round === round);
        if (p && h) ratios.push(round2(h.messagesPerSecond / p.messagesPerSecond));
      }
      return [mode, { ratios, medianRatio: median(ratios) }];
    }),
  );
  const rss = {
    ...Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, peakRssMiB(pid)])),
    // Summed over its processes alive now: pages they share are counted in each.
    postfixSummed: postfix.rssMiB(),
  };
  // Heap and buffers alone: the peak resident set above also counts the code pages the
  // three services share.
  const anonRss = anonPeaks.stop();
  const lost = runs.reduce((sum, r) => sum + r.lost, 0);
  const { wireVersion, bodyRemoval } = await relayFormat(nats.js, options.env);
  process.stdout.write(
    `${JSON.stringify({ summary, peakRssMiB: rss, peakAnonRssMiB: anonRss, lost, wireVersion, bodyRemoval, warmup: options.warmup, natsCores: natsCores ?? null })}\n`,
  );
  for (const [mode, s] of Object.entries(summary)) {
    process.stderr.write(
      `bench: ${mode}: hikyaku/Postfix ${s.ratios.join(', ')} (median ${s.medianRatio})\n`,
    );
  }
  process.exitCode = lost === 0 ? 0 : 1;
}
