/**
 * The common life of a service process: logger, metrics registry, NATS connection and
 * streams, the ops HTTP server, and an ordered shutdown in which the service's own steps
 * (stop taking work, finish or hand back) run before NATS is drained.
 */
import type { Registry } from 'prom-client';
import { startOpsServer } from './http.ts';
import { waitForJetStream } from './jetstream-ready.ts';
import { createLifecycle, exitOnSignals, type Lifecycle } from './lifecycle.ts';
import { createLogger, type Logger } from './log.ts';
import { createRegistry } from './metrics.ts';
import {
  connectNats,
  DEFAULT_LAYOUT,
  ensureStreams,
  type NatsCredentials,
  type NatsHandles,
} from './nats.ts';

export interface ServiceContext {
  log: Logger;
  registry: Registry;
  nats: NatsHandles;
  lifecycle: Lifecycle;
  /** Set by the service once it can take work; /readyz reports it. */
  setReady(ready: boolean): void;
  /**
   * Adds a line to /readyz about something the service depends on but keeps working
   * without (Redis), so that an outage is visible without failing readiness.
   */
  addReadinessDetail(line: () => string): void;
}

export interface ServiceBase {
  natsUrl: string;
  natsCredentials?: NatsCredentials;
  httpHost: string;
  httpPort: number;
  logLevel: string;
  shutdownGraceMs: number;
  streamReplicas?: number;
}

export async function runService(options: {
  name: string;
  config: ServiceBase;
  start: (ctx: ServiceContext) => Promise<void>;
  /** Install SIGTERM/SIGINT handlers that exit the process (off in tests). */
  handleSignals?: boolean;
}): Promise<ServiceContext> {
  const { config } = options;
  const log = createLogger({ name: options.name, level: config.logLevel });
  const registry = createRegistry(options.name);
  const lifecycle = createLifecycle({ log, graceMs: config.shutdownGraceMs });
  let ready = false;
  const details: (() => string)[] = [];

  const nats = await connectNats({
    url: config.natsUrl,
    name: options.name,
    ...(config.natsCredentials ? { credentials: config.natsCredentials } : {}),
  });
  await waitForJetStream(nats.nc, { log });
  await ensureStreams(
    nats.jsm,
    { ...DEFAULT_LAYOUT, replicas: config.streamReplicas ?? 1 },
    { log },
  );
  const ops = await startOpsServer({
    host: config.httpHost,
    port: config.httpPort,
    registry,
    ready: () => ready && !lifecycle.stopping && !nats.nc.isClosed(),
    detail: () => details.map((line) => line()),
  });
  log.info({ port: ops.port }, 'ops http listening');

  const ctx: ServiceContext = {
    log,
    registry,
    nats,
    lifecycle,
    setReady(value) {
      ready = value;
    },
    addReadinessDetail(line) {
      details.push(line);
    },
  };
  await options.start(ctx);
  lifecycle.onShutdown('drain nats', async () => {
    await nats.nc.drain();
  });
  lifecycle.onShutdown('close ops http', () => ops.close());
  if (options.handleSignals !== false) exitOnSignals(lifecycle);
  ctx.setReady(true);
  return ctx;
}
