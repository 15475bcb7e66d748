/**
 * nats-server and redis-server as child processes, for local mode and for tests. Each keeps
 * its data in a folder the caller names, so a restart finds what was stored.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { requireBinary } from '@hikyaku/testing';

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
    child.kill(signal);
  });
}

/** Spawns a server, forwards its output, and resolves once it listens on its port. */
async function startChildServer(options: {
  bin: string;
  args: string[];
  host: string;
  port: number;
  url: string;
  log?: (line: string) => void;
}): Promise<ChildServer> {
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(options.bin, options.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    pipeLines(child, options.log);
    await waitForPort(options.port, options.host, 15_000, child);
  };
  await launch();
  return {
    url: options.url,
    port: options.port,
    get process() {
      return child;
    },
    stop: () => stopper(child, 'SIGTERM', 5000),
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
  log?: (line: string) => void;
}): Promise<ChildServer> {
  const bin = requireBinary('nats-server', 'nats-server');
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.dataDir, { recursive: true });
  return startChildServer({
    bin,
    host,
    port: options.port,
    url: `nats://${host}:${options.port}`,
    ...(options.log ? { log: options.log } : {}),
    args: [
      '-js',
      '-a',
      host,
      '-p',
      String(options.port),
      '-sd',
      options.dataDir,
      ...(options.token ? ['--auth', options.token] : []),
    ],
  });
}

export async function startRedisServer(options: {
  port: number;
  dataDir: string;
  host?: string;
  log?: (line: string) => void;
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
