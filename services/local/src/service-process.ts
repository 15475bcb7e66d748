/**
 * A hikyaku service (ingress, scheduler, sender) as a child process of the local
 * supervisor, with its own ops port so readiness can be awaited. It can be stopped
 * gracefully, killed with SIGKILL and started again: what a pod restart does.
 */
import type { ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { HikyakuError } from '@hikyaku/core';
import { keepRunning, type RestartEvent, spawnTied, untie } from '@hikyaku/testing';

/** How many of its last output lines a service that fails to start is reported with. */
const START_FAILURE_LINES = 20;

/**
 * The arguments that start the `hikyaku` command again as a child of this Node: the compiled
 * build runs as JavaScript; from the sources (tests, development) it runs through tsx with the
 * `hikyaku-source` condition, so the workspace packages resolve to their TypeScript.
 */
export function cliInvocation(): string[] {
  if (import.meta.url.endsWith('.ts')) {
    return [
      '--import',
      import.meta.resolve('tsx'),
      '--conditions=hikyaku-source',
      fileURLToPath(new URL('../../../bin/hikyaku.ts', import.meta.url)),
    ];
  }
  return compiledInvocation();
}

/**
 * The arguments that run the compiled build (dist/), whatever this code runs from: what
 * `npm start` and the image run, and so what the benchmark measures.
 */
export function compiledInvocation(): string[] {
  return [
    '--enable-source-maps',
    fileURLToPath(new URL('../../../dist/bin/hikyaku.js', import.meta.url)),
  ];
}

/**
 * The Node flags every service runs with, here as in the image's entrypoint (the Dockerfile
 * repeats them; test/chart/dockerfile.test.ts keeps the two in step), each measured in
 * docs/performance.md ("Memory per service"):
 *
 * - `--max-semi-space-size=4`: V8 sizes its young generation from the machine's memory; on
 *   a host with a few GiB or more each of its two semi-spaces may grow to 32 MiB, and under
 *   load a service's short-lived per-message garbage fills them before every scavenge.
 * - `--heap-growing-percent=30`: after each full collection V8 lets the old generation grow
 *   to up to four times what survived before collecting again, and a service's
 *   per-message objects that outlive a scavenge (those waiting for an acknowledgement) fill
 *   that room: the scheduler, with ~35 MiB alive, peaked at ~185 MiB. 30 % is the growth V8
 *   itself uses when it saves memory; peaks fell to ~110-122 MiB for CPU per message a few
 *   per cent higher, within the benchmark's noise. Unlike `--max-old-space-size` it sets
 *   no limit: a service that needs more heap still gets it.
 * - `--no-maglev`: turns off Maglev, V8's mid-tier optimizing compiler, so hot code goes
 *   from the baseline tier straight to TurboFan; the ingress peaked 10-25 MiB lower (107-110 MiB
 *   against 118-135) and the others a few MiB lower, for the same CPU per message once a
 *   service has handled a few thousand messages, and up to a third more before that.
 * - `--no-parallel-scavenge`: the main thread scavenges the young generation alone instead
 *   of sharing each scavenge with V8's helper threads. A scavenge of at most 4 MiB is short,
 *   and handing parts of it to threads that must first be woken (on cores the service shares
 *   with NATS, Redis and the other services, or under a pod's CPU limit) cost more than it
 *   saved: in alternated runs, less CPU per message with reused connections (by up to a
 *   fifth), none measurable with a new connection per message, and the same peaks. The
 *   major collector keeps its helper threads: without them the peaks grew by 20-50 MiB.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=4',
  '--heap-growing-percent=30',
  '--no-maglev',
  '--no-parallel-scavenge',
];

export interface ServiceProcess {
  readonly name: string;
  readonly opsPort: number;
  readonly pid: number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

/** How long the output of a service that exited is read on: a process it started may hold it. */
const OUTPUT_CLOSE_WAIT_MS = 2000;

/** Resolves once the child's stdout and stderr have ended, so its last lines have been read. */
function outputClosed(proc: ChildProcess): Promise<void> {
  const ended = (stream: Readable | null): Promise<void> =>
    new Promise((resolve) => {
      if (!stream || stream.readableEnded || stream.destroyed) resolve();
      else {
        stream.once('end', resolve);
        stream.once('close', resolve);
      }
    });
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.all([ended(proc.stdout), ended(proc.stderr)]),
    new Promise((resolve) => {
      timer = setTimeout(resolve, OUTPUT_CLOSE_WAIT_MS);
    }),
  ]).then(() => clearTimeout(timer));
}

export function serviceProcess(options: {
  name: string;
  command: string;
  env: Record<string, string>;
  opsPort: number;
  onOutput?: (name: string, line: string) => void;
  /** Start it again when it exits unexpectedly, reporting each exit and restart here. */
  supervise?: (event: RestartEvent) => void;
  /** Node arguments that start the command (default: cliInvocation(), this build's). */
  invocation?: string[];
}): ServiceProcess {
  let child: ChildProcess | undefined;
  const supervise = options.supervise;
  const keeper = supervise
    ? keepRunning({
        name: options.name,
        relaunch: async () => {
          await launch();
          return child as ChildProcess;
        },
        report: supervise,
      })
    : undefined;

  function exited(): Promise<void> {
    return new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  async function launch(): Promise<void> {
    if (child) untie(child);
    const invocation = options.invocation ?? cliInvocation();
    const proc = spawnTied(
      process.execPath,
      [...SERVICE_NODE_FLAGS, ...invocation, options.command],
      {
        env: {
          ...process.env,
          ...options.env,
          HIKYAKU_HTTP_HOST: '127.0.0.1',
          HIKYAKU_HTTP_PORT: String(options.opsPort),
        },
      },
    );
    child = proc;
    // A service that stops while starting says why on its last lines (its plain-text fatal
    // message, say), which onOutput may not pass on: they go into the error. Kept until the
    // service is ready.
    let lastLines: string[] | undefined = [];
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        if (lastLines) {
          lastLines.push(line);
          if (lastLines.length > START_FAILURE_LINES) lastLines.shift();
        }
        options.onOutput?.(options.name, line);
      }
    };
    proc.stdout?.on('data', forward);
    proc.stderr?.on('data', forward);
    const deadline = Date.now() + 60_000;
    while (!(await ready(options.opsPort))) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        await outputClosed(proc);
        const said = lastLines?.length
          ? `; its last output:\n${lastLines.map((l) => `    ${l}`).join('\n')}`
          : ' without output';
        throw new HikyakuError(
          'HIKYAKU_SERVICE_START_FAILED',
          `${options.name} exited with ${proc.signalCode ?? `code ${proc.exitCode}`} while starting${said}`,
        );
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`${options.name} did not become ready`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    lastLines = undefined;
  }

  return {
    name: options.name,
    opsPort: options.opsPort,
    get pid() {
      return child?.pid;
    },
    async start() {
      await launch();
      if (child) keeper?.watch(child);
    },
    async stop() {
      keeper?.stop();
      if (!child) return;
      const done = exited();
      // Ending the tie makes its watcher send the one SIGTERM: a second one would end
      // the service's ordered shutdown at once.
      untie(child);
      const timer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
      await done;
      clearTimeout(timer);
    },
    async kill() {
      if (!child) return;
      const done = exited();
      child.kill('SIGKILL');
      await done;
    },
  };
}
