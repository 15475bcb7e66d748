/**
 * nats-server and redis-server as child processes, for local mode and for tests. Each keeps
 * its data in a folder the caller names, so a restart finds what was stored.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { requireBinary } from './binaries.ts';
import { freePort } from './ports.ts';
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
async function startChildServer(options: {
  bin: string;
  args: string[];
  host: string;
  port: number;
  url: string;
  log?: (line: string) => void;
  supervise?: (event: RestartEvent) => void;
}): Promise<ChildServer> {
  let child!: ChildProcess;
  const name = options.bin.split('/').at(-1) ?? options.bin;
  const launch = async (): Promise<void> => {
    child = spawnTied(options.bin, options.args);
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

export interface NatsClusterNode extends ChildServer {
  readonly name: string;
  /**
   * Whether the node answers its /healthz with 200: it runs, has a metadata leader, and
   * every stream and consumer replica it holds has caught up. A rolling restart waits for
   * this before it takes the next node down, as the NATS chart's startup probe does.
   */
  healthy(): Promise<boolean>;
}

export interface NatsCluster {
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  readonly url: string;
  readonly nodes: readonly NatsClusterNode[];
  stop(): Promise<void>;
}

/**
 * A JetStream cluster of `size` nats-servers on one host (each with its own ports and data
 * folder), for tests of replicated streams: nodes can be killed and restarted one by one.
 */
export async function startNatsCluster(options: {
  size: number;
  dataDir: string;
  host?: string;
  /** Ports to use (client and cluster port per node); free ones by default. */
  ports?: { client: number; cluster: number; monitor?: number }[];
  log?: (node: string, line: string) => void;
}): Promise<NatsCluster> {
  const host = options.host ?? '127.0.0.1';
  const ports =
    options.ports ??
    (await Promise.all(
      Array.from({ length: options.size }, async () => ({
        client: await freePort(host),
        cluster: await freePort(host),
        monitor: await freePort(host),
      })),
    ));
  const routes = ports.map((p) => `nats://${host}:${p.cluster}`);
  const nodes = await Promise.all(
    ports.map(async (p, i) => {
      const name = `n${i + 1}`;
      const server = await startNatsServer({
        port: p.client,
        host,
        dataDir: join(options.dataDir, name),
        cluster: { name: 'hikyaku', serverName: name, port: p.cluster, routes },
        ...(p.monitor ? { monitorPort: p.monitor } : {}),
        ...(options.log ? { log: (line: string) => options.log?.(name, line) } : {}),
      });
      const healthy = async (): Promise<boolean> => {
        if (!p.monitor) throw new Error(`node ${name} has no monitoring port`);
        try {
          const res = await fetch(`http://${host}:${p.monitor}/healthz`, {
            signal: AbortSignal.timeout(5000),
          });
          await res.body?.cancel();
          return res.ok;
        } catch {
          return false;
        }
      };
      return Object.assign(server, { name, healthy });
    }),
  );
  return {
    url: nodes.map((n) => n.url).join(','),
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
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

/**
 * A Redis Sentinel watching one master (quorum 1: a single sentinel decides, which is
 * enough for tests of a failover), declaring it down after `downAfterMs`.
 */
export async function startRedisSentinel(options: {
  port: number;
  dataDir: string;
  masterName: string;
  master: { host: string; port: number };
  downAfterMs?: number;
  host?: string;
  log?: (line: string) => void;
}): Promise<ChildServer> {
  const bin = requireBinary('redis-sentinel', 'redis-sentinel');
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.dataDir, { recursive: true });
  // Sentinel rewrites its configuration file as it learns; it must be its own, writable.
  const configFile = join(options.dataDir, 'sentinel.conf');
  const { masterName, master } = options;
  writeFileSync(
    configFile,
    [
      `port ${options.port}`,
      `bind ${host}`,
      `dir ${options.dataDir}`,
      `logfile ${join(options.dataDir, 'sentinel.log')}`,
      `sentinel monitor ${masterName} ${master.host} ${master.port} 1`,
      `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${masterName} 10000`,
      '',
    ].join('\n'),
  );
  return startChildServer({
    bin,
    host,
    port: options.port,
    url: `redis://${host}:${options.port}`,
    ...(options.log ? { log: options.log } : {}),
    args: [configFile],
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
