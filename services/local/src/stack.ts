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
} from '@hikyaku/core';
import { type ChildServer, freePort, startNatsServer, startRedisServer } from '@hikyaku/testing';
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
  /** Extra environment for every service (e.g. HIKYAKU_LOG_LEVEL). */
  env?: Record<string, string>;
  /** Submitter username -> salted password hash (see hashPasswordFiles in credentials.ts). */
  passwordHashes?: Record<string, string>;
  onOutput?: (name: string, line: string) => void;
}

export interface LocalStack {
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly smtpHost: string;
  readonly smtpPort: number;
  readonly pool: CompiledPool;
  readonly services: { ingress: ServiceProcess; scheduler: ServiceProcess; sender: ServiceProcess };
  readonly nats?: ChildServer;
  readonly redis?: ChildServer;
  stop(): Promise<void>;
}

/** Local mode runs one sender process that owns every IP of the pool. */
export function compileLocalPool(
  resource: RelayPoolResource,
  passwordHashes: Record<string, string> = {},
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
  return compilePool(withNamespace, { assignment, passwordHashes });
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(options.dataDir, { recursive: true });
  const log = (name: string) => (line: string) => options.onOutput?.(name, line);
  // What was started so far, stopped in reverse if a later step fails: a half-started
  // stack must not leave servers behind.
  const started: { stop(): Promise<void> }[] = [];
  const stopStarted = async (): Promise<void> => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
  };
  try {
    const nats = options.natsUrl
      ? undefined
      : await startNatsServer({
          port: await freePort(),
          dataDir: join(options.dataDir, 'nats'),
          log: log('nats-server'),
        });
    if (nats) started.push(nats);
    const redis = options.redisUrl
      ? undefined
      : await startRedisServer({
          port: await freePort(),
          dataDir: join(options.dataDir, 'redis'),
          log: log('redis-server'),
        });
    if (redis) started.push(redis);
    const natsUrl = options.natsUrl ?? (nats as ChildServer).url;
    const redisUrl = options.redisUrl ?? (redis as ChildServer).url;

    const pool = compileLocalPool(options.pool, options.passwordHashes);
    const admin = await connectNats({ url: natsUrl, name: 'local-supervisor' });
    await ensureStreams(admin.jsm, DEFAULT_LAYOUT);
    await publishPool(await openPoolBucket(admin.js), pool);
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
      ...options.env,
    };
    const make = async (name: string): Promise<ServiceProcess> =>
      serviceProcess({
        name,
        command: name,
        env,
        opsPort: await freePort(),
        ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      });
    const services = {
      ingress: await make('ingress'),
      scheduler: await make('scheduler'),
      sender: await make('sender'),
    };
    started.push(services.sender, services.scheduler, services.ingress);
    await Promise.all([
      services.scheduler.start(),
      services.sender.start(),
      services.ingress.start(),
    ]);

    return {
      natsUrl,
      redisUrl,
      smtpHost,
      smtpPort,
      pool,
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
