/**
 * The relay as a cluster runs it, on one machine: its own nats-server and redis-server, one
 * pool in NATS KV whose IPs are assigned to several sender pods, and several replicas of
 * each service as processes (each ingress on its own SMTP port, each sender with its own
 * pod name), so a test can load them together and SIGKILL one of them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CompiledPool,
  compilePool,
  connectNats,
  DEFAULT_LAYOUT,
  ensureStreams,
  openPoolBucket,
  publishPool,
  type RelayPoolSpec,
} from '@hikyaku/core';
import { type ServiceProcess, serviceProcess } from '@hikyaku/local';
import { type ChildServer, freePort, startNatsServer, startRedisServer } from '@hikyaku/testing';

export interface ReplicaSet {
  readonly pool: CompiledPool;
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly ingress: (ServiceProcess & { smtpPort: number })[];
  readonly schedulers: ServiceProcess[];
  readonly senders: ServiceProcess[];
  stop(): Promise<void>;
}

/** The text a service's /metrics answers. */
export function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    })
      .on('timeout', function (this: { destroy(): void }) {
        this.destroy();
      })
      .on('error', reject);
  });
}

/** The sum of every series of one counter in a scrape. */
export function counterSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

export async function startReplicaSet(options: {
  /** Each IP of the spec gets a sender pod of its own. */
  spec: RelayPoolSpec;
  ingress: number;
  schedulers: number;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  onOutput?: (name: string, line: string) => void;
}): Promise<ReplicaSet> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-replicas-'));
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const part of [...started].reverse()) await part.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const nats: ChildServer = await startNatsServer({
      port: await freePort(),
      dataDir: join(dataDir, 'nats'),
    });
    started.push(nats);
    const redis: ChildServer = await startRedisServer({
      port: await freePort(),
      dataDir: join(dataDir, 'redis'),
    });
    started.push(redis);
    const senderPods = options.spec.ips.map((_, i) => `replicas-sender-${i}`);
    const pool = compilePool(
      {
        apiVersion: 'hikyaku.io/v1alpha1',
        kind: 'RelayPool',
        metadata: { name: 'replicas', namespace: 'test' },
        spec: options.spec,
      },
      {
        assignment: Object.fromEntries(
          options.spec.ips.map((ip, i) => [ip.address, senderPods[i] as string]),
        ),
      },
    );
    const admin = await connectNats({ url: nats.url, name: 'replicas-test' });
    try {
      await ensureStreams(admin.jsm, DEFAULT_LAYOUT);
      await publishPool(await openPoolBucket(admin.js), pool);
    } finally {
      await admin.nc.close();
    }

    const env: Record<string, string> = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      HIKYAKU_POOL: pool.key,
      HIKYAKU_SMTP_HOST: '127.0.0.1',
      HIKYAKU_LOG_LEVEL: 'warn',
      ...options.env,
    };
    const service = async (
      name: string,
      command: string,
      own: Record<string, string>,
    ): Promise<ServiceProcess> => {
      const proc = serviceProcess({
        name,
        command,
        env: { ...env, ...own },
        opsPort: await freePort(),
        ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      });
      started.push(proc);
      return proc;
    };
    const senders: ServiceProcess[] = [];
    for (const [i, pod] of senderPods.entries()) {
      senders.push(await service(`sender-${i}`, 'sender', { HIKYAKU_POD_NAME: pod }));
    }
    const schedulers: ServiceProcess[] = [];
    for (let i = 0; i < options.schedulers; i++) {
      schedulers.push(await service(`scheduler-${i}`, 'scheduler', {}));
    }
    const ingress: (ServiceProcess & { smtpPort: number })[] = [];
    for (let i = 0; i < options.ingress; i++) {
      const smtpPort = await freePort();
      const proc = await service(`ingress-${i}`, 'ingress', {
        HIKYAKU_SMTP_PORT: String(smtpPort),
        HIKYAKU_POD_NAME: `replicas-ingress-${i}`,
      });
      ingress.push(Object.assign(proc, { smtpPort }));
    }
    await Promise.all([...senders, ...schedulers, ...ingress].map((s) => s.start()));
    return {
      pool,
      natsUrl: nats.url,
      redisUrl: redis.url,
      ingress,
      schedulers,
      senders,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
