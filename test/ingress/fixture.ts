/**
 * The ingress under test, in process: a nats-server and a redis-server of its own (child
 * processes on free ports), pool policies published to NATS KV the way the operator does,
 * and one or more ingress instances built by the same factory the service uses, each with
 * its own configuration, NATS connection, metrics registry and captured log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  type BodyStore,
  type CompiledPool,
  codecs,
  compilePool,
  connectNats,
  connectRedis,
  createBodyStore,
  DEFAULT_LAYOUT,
  ENVELOPE_HEADER,
  type Envelope,
  ensureStreams,
  envelopeHeader,
  hashPassword,
  type NatsHandles,
  openPoolBucket,
  type PoolDirectory,
  publishPool,
  type RedisLink,
  type RelayPoolSpec,
  STREAMS,
  watchPools,
} from '@hikyaku/core';
import { type Ingress, readIngressConfig, startIngress } from '@hikyaku/ingress';
import {
  type ChildServer,
  freePort,
  startNatsServer,
  startRedisServer,
  waitFor,
} from '@hikyaku/testing';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';

export interface Infra {
  readonly dir: string;
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly redis: Redis;
  readonly admin: NatsHandles;
  readonly bodies: BodyStore;
  publish(...pools: CompiledPool[]): Promise<void>;
  /** Stops nats-server (SIGTERM); startNats brings it back on the same port and data. */
  stopNats(): Promise<void>;
  startNats(): Promise<void>;
  /** The same for redis-server. */
  stopRedis(): Promise<void>;
  startRedis(): Promise<void>;
  /** Every envelope stored, apart or with its body, in the order stored (nothing consumes them here). */
  envelopes(): Promise<Envelope[]>;
  stop(): Promise<void>;
}

export async function startInfra(): Promise<Infra> {
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-ingress-'));
  const natsPort = await freePort();
  const nats: ChildServer = await startNatsServer({ port: natsPort, dataDir: join(dir, 'nats') });
  const redisPort = await freePort();
  const redisServer = await startRedisServer({ port: redisPort, dataDir: join(dir, 'redis') });
  const admin = await connectNats({ url: nats.url, name: 'test-admin' });
  await ensureStreams(admin.jsm, DEFAULT_LAYOUT);
  const kv = await openPoolBucket(admin.js);
  const bodies = await createBodyStore({
    js: admin.js,
    jsm: admin.jsm,
    replicas: 1,
    maxAgeMs: 3600_000,
  });
  const redis = new Redis(redisServer.url);
  // Tests stop redis-server on purpose; the client reconnects when it is back.
  redis.on('error', () => undefined);

  return {
    dir,
    natsUrl: nats.url,
    redisUrl: redisServer.url,
    redis,
    admin,
    bodies,
    async publish(...pools) {
      for (const pool of pools) await publishPool(kv, pool);
    },
    async stopNats() {
      await nats.stop();
    },
    async startNats() {
      await nats.restart();
    },
    async stopRedis() {
      await redisServer.stop();
    },
    async startRedis() {
      await redisServer.restart();
    },
    async envelopes() {
      // Right after a nats-server restart the admin connection may still be reconnecting.
      return waitFor('the envelopes stored', async () => {
        const found: { at: number; envelope: Envelope }[] = [];
        // Stored apart (wire version 1, bodies too large to carry it), or in the header of
        // the body's own message (wire version 2).
        for (const stream of [STREAMS.envelopes, STREAMS.bodies]) {
          const info = await admin.jsm.streams.info(stream);
          for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
            const stored = await admin.jsm.streams.getMessage(stream, { seq }).catch(() => null);
            if (!stored) continue;
            const header = stored.header?.get(ENVELOPE_HEADER);
            if (stream === STREAMS.envelopes) {
              found.push({
                at: stored.time.getTime(),
                envelope: codecs.envelope.decode(stored.data),
              });
            } else if (header) {
              found.push({ at: stored.time.getTime(), envelope: envelopeHeader.decode(header) });
            }
          }
        }
        return found.sort((a, b) => a.at - b.at).map((f) => f.envelope);
      });
    },
    async stop() {
      redis.disconnect();
      await admin.nc.close().catch(() => undefined);
      await redisServer.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A pool policy as the operator would publish it; passwords are hashed cheaply. */
export async function testPool(
  name: string,
  spec: Partial<RelayPoolSpec>,
  passwords: Record<string, string> = {},
): Promise<CompiledPool> {
  const passwordHashes: Record<string, string> = {};
  for (const [user, password] of Object.entries(passwords)) {
    passwordHashes[user] = await hashPassword(password, { cost: 1024 });
  }
  return compilePool(
    {
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name, namespace: 'test' },
      spec: { ips: [{ address: '127.0.0.2', hostname: 'mta1.hikyaku.test' }], ...spec },
    },
    { assignment: { '127.0.0.2': `${name}-sender-0` }, passwordHashes },
  );
}

export interface IngressUnderTest {
  readonly ingress: Ingress;
  readonly ports: Ingress['ports'];
  readonly registry: Registry;
  readonly pools: PoolDirectory;
  /** Log lines as JSON strings, for checks on what is (not) logged. */
  readonly logs: string[];
  /** The ingress' connection to Redis. */
  readonly redis: RedisLink;
  /** The value of a counter or gauge for the given labels (0 when never set). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startIngressUnderTest(
  infra: Infra,
  options: { env?: Record<string, string>; pools?: string[]; now?: () => number } = {},
): Promise<IngressUnderTest> {
  const config = readIngressConfig({
    NATS_URL: infra.natsUrl,
    REDIS_URL: infra.redisUrl,
    HIKYAKU_SMTP_HOST: '127.0.0.1',
    HIKYAKU_SMTP_PORT: '0',
    HIKYAKU_SUBMISSION_PORT: '0',
    HIKYAKU_SMTPS_PORT: '0',
    HIKYAKU_HOSTNAME: 'relay.hikyaku.test',
    // A test that fails mid-transaction must not hold the teardown for the default 20 s.
    HIKYAKU_DRAIN_TIMEOUT_MS: '2000',
    ...options.env,
  });
  const logs: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  );
  const nats = await connectNats({ url: config.natsUrl, name: 'ingress-under-test' });
  const pools = await watchPools(await openPoolBucket(nats.js), log);
  for (const key of options.pools ?? []) await pools.waitFor(key, 10_000);
  const bodies = await createBodyStore({
    js: nats.js,
    jsm: nats.jsm,
    replicas: 1,
    maxAgeMs: 3600_000,
  });
  const registry = new Registry();
  const redis = connectRedis({
    url: config.redisUrl,
    mode: 'lookups',
    timeoutMs: config.redisTimeoutMs,
    log,
    registry,
  });
  // Lookups are skipped until Redis is connected; tests of the checks need it connected.
  await waitFor('the ingress connected to redis', () => redis.available());
  const ingress = await startIngress({
    config,
    nats,
    bodies,
    pools,
    redis,
    log,
    registry,
    ...(options.now ? { now: options.now } : {}),
  });
  let stopped = false;
  return {
    ingress,
    ports: ingress.ports,
    registry,
    pools,
    logs,
    redis,
    async metric(name, labels = {}) {
      const metric = registry.getSingleMetric(name);
      if (!metric) return 0;
      const { values } = await metric.get();
      return values
        .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await ingress.close();
      pools.stop();
      await nats.nc.close().catch(() => undefined);
      await redis.close();
    },
  };
}
