/**
 * nats-server and redis-server as child processes, for local mode and for tests. Each keeps
 * its data in a folder the caller names, so a restart finds what was stored.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { requireBinary } from './binaries.ts';
import { keepRunning, type RestartEvent } from './restart-policy.ts';
import { spawnTied, untie } from './tied-spawn.ts';

export interface ChildServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL: the crash case. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder (a restarted pod); stops it first. */
  restart(): Promise<void>;
}

function waitForPort(
  port: number,
  host: string,
  timeoutMs: number,
  child: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) {
        reject(new Error(`server exited with code ${child.exitCode} before listening on ${port}`));
        return;
      }
      const socket = connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listening on ${host}:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function stopper(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    // A kill is a kill: SIGKILL first, so the process never sees the SIGTERM the tie's
    // watcher sends when the tie ends. A stop ends the tie, which sends SIGTERM once.
    if (signal !== 'SIGTERM') child.kill(signal);
    untie(child);
  });
}

/** Spawns a server, forwards its output, and resolves once it listens on its port. */
export async function startChildServer(options: {
  bin: string;
  args: string[];
  host: string;
  port: number;
  url: string;
  /** Added to the environment the server inherits. */
  env?: Record<string, string>;
  log?: (line: string) => void;
  supervise?: (event: RestartEvent) => void;
}): Promise<ChildServer> {
  let child!: ChildProcess;
  const name = options.bin.split('/').at(-1) ?? options.bin;
  const env = options.env ? { ...process.env, ...options.env } : undefined;
  const launch = async (): Promise<void> => {
    child = spawnTied(options.bin, options.args, env ? { env } : {});
    pipeLines(child, options.log);
    try {
      await waitForPort(options.port, options.host, 15_000, child);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  };
  const keeper = options.supervise
    ? keepRunning({
        name,
        relaunch: async () => {
          await launch();
          return child as ChildProcess;
        },
        report: options.supervise,
      })
    : undefined;
  await launch();
  keeper?.watch(child as ChildProcess);
  return {
    url: options.url,
    port: options.port,
    get process() {
      return child;
    },
    stop: () => {
      keeper?.stop();
      return stopper(child, 'SIGTERM', 5000);
    },
    kill: () => stopper(child, 'SIGKILL', 1000),
    async restart() {
      await stopper(child, 'SIGTERM', 5000);
      await launch();
    },
  };
}

export async function startNatsServer(options: {
  port: number;
  dataDir: string;
  host?: string;
  /** Require this token from clients. */
  token?: string;
  /** Join a cluster: this server's name, its cluster port and the routes to the others. */
  cluster?: { name: string; serverName: string; port: number; routes: string[] };
  /** Serve nats-server's monitoring endpoints (/healthz, /jsz) on this port. */
  monitorPort?: number;
  /**
   * The cores nats-server's Go runtime runs on (GOMAXPROCS). Unset: Go's default, every core
   * of the machine (Go before 1.25 does not read a container's CPU limit).
   */
  cores?: number;
  log?: (line: string) => void;
  /** Start it again when it exits unexpectedly (local mode). */
  supervise?: (event: RestartEvent) => void;
}): Promise<ChildServer> {
  const bin = requireBinary('nats-server', 'nats-server');
  const cluster = options.cluster;
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.dataDir, { recursive: true });
  return startChildServer({
    bin,
    host,
    port: options.port,
    url: `nats://${host}:${options.port}`,
    ...(options.cores ? { env: { GOMAXPROCS: String(options.cores) } } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.supervise ? { supervise: options.supervise } : {}),
    args: [
      '-js',
      '-a',
      host,
      '-p',
      String(options.port),
      '-sd',
      options.dataDir,
      ...(options.token ? ['--auth', options.token] : []),
      ...(options.monitorPort ? ['-m', String(options.monitorPort)] : []),
      ...(cluster
        ? [
            '--server_name',
            cluster.serverName,
            '--cluster_name',
            cluster.name,
            '--cluster',
            `nats://${host}:${cluster.port}`,
            '--routes',
            cluster.routes.join(','),
          ]
        : []),
    ],
  });
}

export async function startRedisServer(options: {
  port: number;
  dataDir: string;
  host?: string;
  /** Start as a replica of this master. */
  replicaOf?: { host: string; port: number };
  log?: (line: string) => void;
  /** Start it again when it exits unexpectedly (local mode). */
  supervise?: (event: RestartEvent) => void;
}): Promise<ChildServer> {
  const bin = requireBinary('redis-server', 'redis-server');
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.dataDir, { recursive: true });
  // Append-only file: counters and the suppression list survive a restart.
  return startChildServer({
    bin,
    host,
    port: options.port,
    url: `redis://${host}:${options.port}`,
    ...(options.log ? { log: options.log } : {}),
    ...(options.supervise ? { supervise: options.supervise } : {}),
    args: [
      '--port',
      String(options.port),
      '--bind',
      host,
      '--dir',
      options.dataDir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--protected-mode',
      'no',
      '--logfile',
      join(options.dataDir, 'redis.log'),
      ...(options.replicaOf
        ? ['--replicaof', options.replicaOf.host, String(options.replicaOf.port)]
        : []),
    ],
  });
}

function pipeLines(child: ChildProcess, log?: (line: string) => void): void {
  const sink = (chunk: Buffer): void => {
    if (!log) return;
    for (const line of chunk.toString().split('\n')) if (line.trim()) log(line);
  };
  child.stdout?.on('data', sink);
  child.stderr?.on('data', sink);
}
