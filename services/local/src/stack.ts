/**
 * The whole relay on one machine: nats-server and redis-server (started here unless URLs
 * are given), the pool compiled by the same code the operator uses and written to NATS KV,
 * and the three services as child processes. Local mode, the tests and the benchmark all
 * run it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  assignIps,
  type CompiledPool,
  compilePool,
  connectNats,
  DEFAULT_LAYOUT,
  ensureStreams,
  openPoolBucket,
  publishPool,
  type RelayPoolResource,
  waitForJetStream,
} from '@hikyaku/core';
import type { RestartEvent } from '@hikyaku/testing';
import { type ChildServer, freePort, startNatsServer, startRedisServer } from '@hikyaku/testing';
import { type RetiredPool, retireOtherPools } from './pool-switch.ts';
import { type ServiceProcess, serviceProcess } from './service-process.ts';

export const LOCAL_NAMESPACE = 'local';
export const LOCAL_SENDER_POD = 'local-sender-0';

export interface LocalStackOptions {
  pool: RelayPoolResource;
  dataDir: string;
  smtpPort?: number;
  smtpHost?: string;
  natsUrl?: string;
  redisUrl?: string;
  /** Replicas of the streams and buckets (3 on a NATS cluster); 1 by default. */
  streamReplicas?: number;
  /** The cores of the nats-server it starts (GOMAXPROCS); see natsCoresOf. */
  natsCores?: number;
  /** Extra environment for every service (e.g. HIKYAKU_LOG_LEVEL). */
  env?: Record<string, string>;
  /** Submitter username -> salted password hash (see hashPasswordFiles in credentials.ts). */
  passwordHashes?: Record<string, string>;
  /** The secret of the pool's feedback.signingKeyFile, as read. */
  feedbackSecret?: string;
  /** The pool file's directory: webhooks' secretFile paths are read relative to it. */
  poolFileDir?: string;
  onOutput?: (name: string, line: string) => void;
  /** Start again whatever exits unexpectedly (local mode), reporting exits and restarts. */
  supervise?: (event: RestartEvent) => void;
  /** Start-up steps as they begin ("nats-server", "ingress", …). */
  onProgress?: (step: string) => void;
  /** Node arguments that start the services (default: cliInvocation(), this build's). */
  invocation?: string[];
  /**
   * The services to start (default: all three). The others are made but never started: a
   * stack of the ingress alone accepts and stores mail and delivers none, which is how
   * the ingress is measured on its own (bench/smtp-layer.ts).
   */
  startOnly?: readonly LocalServiceName[];
}

export type LocalServiceName = 'ingress' | 'scheduler' | 'sender';

export interface LocalStack {
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly smtpHost: string;
  readonly smtpPort: number;
  readonly pool: CompiledPool;
  /** Pools a previous run left in this data folder, taken out of KV (see pool-switch.ts). */
  readonly retiredPools: RetiredPool[];
  readonly services: { ingress: ServiceProcess; scheduler: ServiceProcess; sender: ServiceProcess };
  readonly nats?: ChildServer;
  readonly redis?: ChildServer;
  stop(): Promise<void>;
}

/**
 * The cores the nats-server of a local stack runs on, unless the caller or GOMAXPROCS in the
 * environment says otherwise: one. On one machine nats-server shares the cores with the
 * three services, each of which runs its JavaScript on one thread; Go's runtime given every
 * core keeps idle threads looking for work and moving goroutines between them, which on a
 * busy two-core machine cost nats-server a quarter to a third of its CPU per message
 * (docs/performance.md, "nats-server's cores").
 */
export const LOCAL_NATS_CORES = 1;

export function natsCoresOf(
  requested: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  if (requested !== undefined) return requested > 0 ? requested : undefined;
  return env.GOMAXPROCS ? undefined : LOCAL_NATS_CORES;
}

/** Local mode runs one sender process that owns every IP of the pool. */
export function compileLocalPool(
  resource: RelayPoolResource,
  passwordHashes: Record<string, string> = {},
  feedbackSecret?: string,
  poolFileDir?: string,
): CompiledPool {
  const withNamespace: RelayPoolResource = {
    ...resource,
    metadata: { ...resource.metadata, namespace: resource.metadata.namespace ?? LOCAL_NAMESPACE },
  };
  const addresses = resource.spec.ips.map((ip) => ip.address);
  const assignment = Object.fromEntries(
    Object.keys(assignIps(resource.metadata.name, addresses, addresses.length)).map((a) => [
      a,
      LOCAL_SENDER_POD,
    ]),
  );
  return compilePool(withNamespace, {
    assignment,
    passwordHashes,
    ...(feedbackSecret !== undefined ? { feedbackSecret } : {}),
    ...(poolFileDir !== undefined ? { fileDir: poolFileDir } : {}),
  });
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(options.dataDir, { recursive: true });
  const log = (name: string) => (line: string) => options.onOutput?.(name, line);
  const supervise = options.supervise ? { supervise: options.supervise } : {};
  const progress = (step: string): void => options.onProgress?.(step);
  // What was started so far, stopped in reverse if a later step fails: a half-started
  // stack must not leave servers behind.
  const started: { stop(): Promise<void> }[] = [];
  const stopStarted = async (): Promise<void> => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
  };
  try {
    if (!options.natsUrl) progress('nats-server');
    const natsCores = natsCoresOf(options.natsCores);
    const nats = options.natsUrl
      ? undefined
      : await startNatsServer({
          port: await freePort(),
          dataDir: join(options.dataDir, 'nats'),
          ...(natsCores ? { cores: natsCores } : {}),
          log: log('nats-server'),
          ...supervise,
        });
    if (nats) started.push(nats);
    if (!options.redisUrl) progress('redis-server');
    const redis = options.redisUrl
      ? undefined
      : await startRedisServer({
          port: await freePort(),
          dataDir: join(options.dataDir, 'redis'),
          log: log('redis-server'),
          ...supervise,
        });
    if (redis) started.push(redis);
    const natsUrl = options.natsUrl ?? (nats as ChildServer).url;
    const redisUrl = options.redisUrl ?? (redis as ChildServer).url;

    const pool = compileLocalPool(
      options.pool,
      options.passwordHashes,
      options.feedbackSecret,
      options.poolFileDir,
    );
    const admin = await connectNats({ url: natsUrl, name: 'local-supervisor' });
    // A connection left open when set-up fails would keep reconnecting, and the caller's
    // process alive, for ever.
    started.push({ stop: () => admin.nc.close() });
    const replicas = options.streamReplicas ?? 1;
    await waitForJetStream(admin.nc);
    await ensureStreams(admin.jsm, { ...DEFAULT_LAYOUT, replicas });
    const bucket = await openPoolBucket(admin.js, replicas);
    await publishPool(bucket, pool);
    // Only in a NATS of its own: a NATS given by URL may serve pools of others.
    const retiredPools = nats ? await retireOtherPools(bucket, admin.jsm, pool.key) : [];
    await admin.nc.close();

    const smtpHost = options.smtpHost ?? '127.0.0.1';
    const smtpPort = options.smtpPort ?? 2525;
    const env: Record<string, string> = {
      NATS_URL: natsUrl,
      REDIS_URL: redisUrl,
      HIKYAKU_POOL: pool.key,
      HIKYAKU_POD_NAME: LOCAL_SENDER_POD,
      HIKYAKU_SMTP_HOST: smtpHost,
      HIKYAKU_SMTP_PORT: String(smtpPort),
      HIKYAKU_STREAM_REPLICAS: String(options.streamReplicas ?? 1),
      ...options.env,
    };
    const make = async (name: string): Promise<ServiceProcess> =>
      serviceProcess({
        name,
        command: name,
        env,
        opsPort: await freePort(),
        ...(options.onOutput ? { onOutput: options.onOutput } : {}),
        ...(options.invocation ? { invocation: options.invocation } : {}),
        ...supervise,
      });
    const services = {
      ingress: await make('ingress'),
      scheduler: await make('scheduler'),
      sender: await make('sender'),
    };
    started.push(services.sender, services.scheduler, services.ingress);
    const starting = (['scheduler', 'sender', 'ingress'] as const).filter(
      (name) => !options.startOnly || options.startOnly.includes(name),
    );
    progress(starting.length === 3 ? 'scheduler, sender and ingress' : starting.join(' and '));
    await Promise.all(starting.map((name) => services[name].start()));

    return {
      natsUrl,
      redisUrl,
      smtpHost,
      smtpPort,
      pool,
      retiredPools,
      services,
      ...(nats ? { nats } : {}),
      ...(redis ? { redis } : {}),
      async stop() {
        // Front door first, so nothing new arrives while the rest winds down.
        await services.ingress.stop();
        await services.scheduler.stop();
        await services.sender.stop();
        await redis?.stop();
        await nats?.stop();
      },
    };
  } catch (err) {
    await stopStarted();
    throw err;
  }
}
