/**
 * The operator under test: run in this process against the Kubernetes API stand-in
 * (test/kube) and a real nats-server (and redis-server when a test needs the scheduler's
 * counters) on free ports.
 *
 * Against a real cluster: HIKYAKU_TEST_CLUSTER=1 with KUBECONFIG pointing at it (the
 * RelayPool CRD installed). Each test file then works in a namespace of its own, created
 * and deleted here; tests that need the stand-in (faults, the request log) are skipped.
 * The sender pods are real there, so HIKYAKU_TEST_SENDER_IMAGE must name a hikyaku image
 * and HIKYAKU_TEST_NATS_URL / HIKYAKU_TEST_REDIS_URL servers that both this machine and
 * the pods reach. docs/operator.md has the details.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledPool, RelayPoolSpec } from '@hikyaku/core';
import {
  connectNats,
  createLogger,
  createRegistry,
  ensureStreams,
  KV_KEYS,
  type NatsHandles,
  openPoolBucket,
  readIpStatus,
} from '@hikyaku/core';
import type { PoolCondition, RelayPoolObject } from '@hikyaku/operator';
import { createOperator, type Operator, readOperatorConfig } from '@hikyaku/operator';
import {
  type ChildServer,
  freePort,
  startNatsServer,
  startRedisServer,
  waitFor,
} from '@hikyaku/testing';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import type { KV } from '@nats-io/kv';
import { Redis } from 'ioredis';
import { type KubeStandin, startKubeStandin } from '../kube/index.ts';
import { makeKubeConfig } from '../kube/kubeconfig.ts';

export const REAL_CLUSTER = process.env.HIKYAKU_TEST_CLUSTER === '1';
const GROUP = { group: 'hikyaku.io', version: 'v1alpha1', plural: 'relaypools' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface RunningOperator {
  operator: Operator;
  identity: string;
  registry: ReturnType<typeof createRegistry>;
  stop(options?: { release?: boolean }): Promise<void>;
}

export interface OperatorFixture {
  /** The stand-in; undefined against a real cluster. */
  api: KubeStandin | undefined;
  namespace: string;
  kc: KubeConfig;
  custom: CustomObjectsApi;
  core: CoreV1Api;
  apps: AppsV1Api;
  nats: NatsHandles;
  kv: KV;
  redis: Redis | undefined;
  natsUrl: string;
  redisUrl: string | undefined;
  /** `server`: reach the stand-in through this URL instead (a proxy). */
  startOperator(options?: {
    env?: Record<string, string>;
    user?: string;
    server?: string;
  }): Promise<RunningOperator>;
  createPool(name: string, spec: Partial<RelayPoolSpec>): Promise<RelayPoolObject>;
  patchSpec(name: string, spec: Partial<RelayPoolSpec>): Promise<RelayPoolObject>;
  getPool(name: string): Promise<RelayPoolObject | undefined>;
  deletePool(name: string): Promise<void>;
  statefulSet(name: string): Promise<V1StatefulSet | undefined>;
  published(poolName: string): Promise<CompiledPool | undefined>;
  waitForCondition(
    name: string,
    type: PoolCondition['type'],
    check: (c: PoolCondition, pool: RelayPoolObject) => boolean,
    what: string,
  ): Promise<RelayPoolObject>;
  stop(): Promise<void>;
}

/** Default settings of operators under test: short periods, so that tests are quick. */
export function testEnv(namespace: string, natsUrl: string): Record<string, string> {
  return {
    NATS_URL: natsUrl,
    HIKYAKU_SENDER_IMAGE: process.env.HIKYAKU_TEST_SENDER_IMAGE ?? 'ghcr.io/hikyaku/hikyaku:test',
    HIKYAKU_WATCH_NAMESPACE: namespace,
    HIKYAKU_LEASE_NAMESPACE: namespace,
    HIKYAKU_LEASE_DURATION_MS: '2000',
    HIKYAKU_LEASE_RENEW_DEADLINE_MS: '1500',
    HIKYAKU_LEASE_RETRY_PERIOD_MS: '200',
    HIKYAKU_RECONCILE_RETRY_BASE_MS: '50',
    HIKYAKU_RECONCILE_RETRY_MAX_MS: '1000',
    HIKYAKU_STATUS_INTERVAL_MS: '500',
    HIKYAKU_DRAIN_GRACE_MS: '100',
    HIKYAKU_DRAIN_POLL_MS: '100',
    HIKYAKU_WATCH_TIMEOUT_SECONDS: '30',
  };
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

export async function startOperatorFixture(
  options: { redis?: boolean; standin?: Parameters<typeof startKubeStandin>[0] } = {},
): Promise<OperatorFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-operator-'));
  const children: ChildServer[] = [];
  let api: KubeStandin | undefined;
  let kc: KubeConfig;
  const namespace = `op-${randomBytes(3).toString('hex')}`;
  if (REAL_CLUSTER) {
    kc = new KubeConfig();
    kc.loadFromDefault();
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  } else {
    api = await startKubeStandin({
      crdFiles: ['crds/relaypools.hikyaku.io.yaml'],
      simulateControllers: true,
      ...options.standin,
    });
    kc = api.kubeConfig(namespace);
  }
  let natsUrl = process.env.HIKYAKU_TEST_NATS_URL;
  if (!natsUrl) {
    const nats = await startNatsServer({ port: await freePort(), dataDir: join(dataDir, 'nats') });
    children.push(nats);
    natsUrl = nats.url;
  }
  let redis: Redis | undefined;
  let redisUrl: string | undefined;
  if (options.redis) {
    redisUrl = process.env.HIKYAKU_TEST_REDIS_URL;
    if (!redisUrl) {
      const server = await startRedisServer({
        port: await freePort(),
        dataDir: join(dataDir, 'redis'),
      });
      children.push(server);
      redisUrl = server.url;
    }
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  }
  const nats = await connectNats({ url: natsUrl, name: 'operator-test' });
  await ensureStreams(nats.jsm);
  const kv = await openPoolBucket(nats.js);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const running: RunningOperator[] = [];
  const where = { ...GROUP, namespace };

  const fixture: OperatorFixture = {
    api,
    namespace,
    kc,
    custom,
    core,
    apps,
    nats,
    kv,
    redis,
    natsUrl,
    redisUrl,
    async startOperator(opts = {}) {
      const identity = opts.user ?? `operator-${running.length}`;
      const env = {
        ...testEnv(namespace, natsUrl),
        HIKYAKU_LEADER_IDENTITY: identity,
        ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
        ...opts.env,
      };
      const config = readOperatorConfig(env);
      // Each operator has a token of its own, so the stand-in's request log tells them apart.
      const server = opts.server ?? api?.url;
      const kubeConfig = server ? makeKubeConfig({ server, token: identity }) : kc;
      const registry = createRegistry('operator');
      const operator = createOperator({
        config,
        kubeConfig,
        nats,
        registry,
        log: createLogger({ name: identity, level: process.env.HIKYAKU_TEST_LOG ?? 'silent' }),
        passwordHashCost: 1024,
        ...(redis ? { ipStatus: (pool, now) => readIpStatus(redis, pool, now) } : {}),
      });
      await operator.start();
      let stopped = false;
      const handle: RunningOperator = {
        operator,
        identity,
        registry,
        async stop(stopOptions) {
          if (stopped) return;
          stopped = true;
          await operator.stop(stopOptions);
        },
      };
      running.push(handle);
      return handle;
    },
    async createPool(name, spec) {
      const body = {
        apiVersion: 'hikyaku.io/v1alpha1',
        kind: 'RelayPool',
        metadata: { name },
        spec,
      };
      return (await custom.createNamespacedCustomObject({ ...where, body })) as RelayPoolObject;
    },
    async patchSpec(name, spec) {
      return (await custom.patchNamespacedCustomObject(
        { ...where, name, body: { spec } },
        mergePatch,
      )) as RelayPoolObject;
    },
    async getPool(name) {
      try {
        return (await custom.getNamespacedCustomObject({ ...where, name })) as RelayPoolObject;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async deletePool(name) {
      await custom.deleteNamespacedCustomObject({ ...where, name });
    },
    async statefulSet(name) {
      try {
        return await apps.readNamespacedStatefulSet({ namespace, name: `${name}-sender` });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async published(poolName) {
      const entry = await kv.get(KV_KEYS.pool(`${namespace}_${poolName}`));
      if (entry?.operation !== 'PUT') return undefined;
      return entry.json<CompiledPool>();
    },
    waitForCondition(name, type, check, what) {
      return waitFor(
        what,
        async () => {
          const pool = await fixture.getPool(name);
          const c = pool?.status?.conditions?.find((x) => x.type === type);
          return pool && c && check(c, pool) ? pool : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 25 },
      );
    },
    async stop() {
      for (const r of running) await r.stop({ release: true });
      await nats.nc.close();
      await redis?.quit();
      if (REAL_CLUSTER) {
        await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      }
      await api?.stop();
      for (const c of children) await c.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/**
 * A small valid spec: two IPs, one pod each. An address belongs to one pool only, so each
 * pool of a test file takes its own `first` (192.0.2.<first> and the next one).
 */
export function basicSpec(
  first: number,
  overrides: Partial<RelayPoolSpec> = {},
): Partial<RelayPoolSpec> {
  return {
    ips: [
      { address: `192.0.2.${first}`, hostname: 'mta1.example.com' },
      { address: `192.0.2.${first + 1}`, hostname: 'mta2.example.com' },
    ],
    ...overrides,
  };
}
