/**
 * The SMTP front door: one smtp-server per listener (relay, submission, smtps), sharing
 * the session limit, the pools, the submitters and the store. It answers 250 only after
 * JetStream acknowledged both the body and the envelope, 451 4.3.0 when it cannot store,
 * and relays only for clients that a pool allows.
 */
import type { AddressInfo } from 'node:net';
import {
  type BodyStore,
  createSuppressionList,
  type Logger,
  type NatsHandles,
  POOL_DEFAULTS,
  type PoolDirectory,
  type RedisLink,
  wireVersionToWrite,
} from '@hikyaku/core';
import type { Registry } from 'prom-client';
import type { SMTPServerOptions } from 'smtp-server';
import { createSharedAuthThrottle } from './auth-throttle-redis.ts';
import { type CertificateWatcher, watchCertificate } from './certificates.ts';
import { createClientLimits } from './client-limits.ts';
import type { IngressConfig, ListenerName } from './config.ts';
import { createFeedbackIntake } from './feedback-intake.ts';
import { dateLine } from './headers.ts';
import { createInflightBudget } from './inflight.ts';
import { createIngressMetrics } from './metrics.ts';
import { createPoolSelector } from './pool-select.ts';
import { createSubmitterQuota } from './quota.ts';
import { RelaySmtpServer } from './relay-server.ts';
import { disabledCommands, type IngressContext, sessionHandlers } from './session-handlers.ts';
import { createSessionTracker } from './sessions.ts';
import { createMessageStore } from './store.ts';
import { createSubmitterDirectory } from './submitters.ts';

export interface Ingress {
  /** The port each listener is bound to. */
  readonly ports: Partial<Record<ListenerName, number>>;
  /** The relay listener's port (the first listener's when there is no relay listener). */
  readonly port: number;
  /**
   * Stops accepting connections, lets transactions in progress finish (bounded by
   * drainTimeoutMs), answers 421 4.3.2 to every other session and closes them.
   */
  close(): Promise<void>;
}

/** How long closed connections may take to go away before close() stops waiting. */
const SOCKET_CLOSE_WAIT_MS = 6000;

export async function startIngress(deps: {
  config: IngressConfig;
  nats: NatsHandles;
  bodies: BodyStore;
  pools: PoolDirectory;
  redis: RedisLink;
  log: Logger;
  registry: Registry;
  now?: () => number;
}): Promise<Ingress> {
  const { config, pools, log } = deps;
  const now = deps.now ?? Date.now;
  const metrics = createIngressMetrics(deps.registry);
  let certificates: CertificateWatcher | undefined;
  if (config.tls) {
    certificates = await watchCertificate({
      files: config.tls,
      intervalMs: config.tls.reloadIntervalMs,
      log,
      onReload: (result) => metrics.certificateReloads.inc({ result }),
    });
  }

  const ctx: IngressContext = {
    config,
    log,
    metrics,
    pools,
    selector: createPoolSelector(),
    submitters: createSubmitterDirectory({
      pools,
      onConflict: (submitter, keys) =>
        log.error({ submitter, pools: keys }, 'username declared by several pools; refusing it'),
      onBadHash: (submitter, pool, err) =>
        log.error({ err, submitter, pool }, 'unusable password hash in the pool policy'),
    }),
    throttle: createSharedAuthThrottle({
      redis: deps.redis.client,
      health: deps.redis,
      options: config.authFailures,
      timeoutMs: config.redisTimeoutMs,
      metrics,
      log,
      now,
    }),
    quota: createSubmitterQuota(deps.redis.client),
    suppressions: createSuppressionList(deps.redis.client),
    redis: deps.redis,
    store: createMessageStore({
      nats: deps.nats,
      bodies: deps.bodies,
      timeoutMs: config.storeTimeoutMs,
      wireVersion: await wireVersionToWrite(config.wireVersion, deps.nats.js, log),
      now,
    }),
    feedback: createFeedbackIntake({
      nats: deps.nats,
      bodies: deps.bodies,
      redis: deps.redis.client,
      timeoutMs: config.storeTimeoutMs,
    }),
    tracker: createSessionTracker({
      maxSessions: config.maxClients,
      sessionTimeoutMs: config.sessionTimeoutMs,
      transactionGraceMs: config.socketTimeoutMs,
    }),
    clientLimits: createClientLimits({ limits: config.clientLimits, now }),
    inflight: createInflightBudget(config.maxInflightBytes, (held) =>
      metrics.inflightBytes.set(held),
    ),
    tlsAvailable: certificates !== undefined,
    now,
    dateLine: dateLine(),
  };

  /** SIZE advertises the largest limit of any pool; each pool's own is enforced. */
  function maxSize(): number {
    return Math.max(0, ...pools.all().map((p) => p.maxMessageSize)) || POOL_DEFAULTS.maxMessageSize;
  }

  function options(listener: ListenerName): SMTPServerOptions {
    const pair = certificates?.current();
    return {
      name: config.hostname,
      banner: 'hikyaku',
      secure: listener === 'smtps',
      ...(pair ? { key: pair.key, cert: pair.cert, minVersion: config.tls?.minVersion } : {}),
      hideSTARTTLS: !pair || listener === 'smtps',
      authMethods: ['PLAIN', 'LOGIN'],
      // A plain session's; an encrypted one gets its own list (session-handlers.ts).
      disabledCommands: disabledCommands({
        listener,
        secure: listener === 'smtps',
        tlsAvailable: certificates !== undefined,
        allowInsecureAuth: config.allowInsecureAuth,
      }),
      // Who must authenticate is decided per transaction (session-handlers.ts); whether
      // AUTH is offered, per session.
      authOptional: true,
      allowInsecureAuth: config.allowInsecureAuth,
      hideENHANCEDSTATUSCODES: false,
      // DSN (RFC 3461): smtp-server checks RET, ENVID, NOTIFY and ORCPT and answers
      // malformed ones 501 5.5.4; the scheduler and sender honour them (docs/ingress.md).
      hideDSN: false,
      hideREQUIRETLS: true,
      size: maxSize(),
      // The session limit is applied across listeners by the tracker; this bound only
      // keeps connections that have not reached it yet (TLS handshakes) in check.
      maxClients: config.maxClients * 2,
      socketTimeout: config.socketTimeoutMs,
      // Trusted applications reach the relay; reverse lookups would add a DNS round trip
      // to every connection for no decision.
      disableReverseLookup: true,
      logger: false,
    };
  }

  const servers = new Map<ListenerName, RelaySmtpServer>();
  const ports: Partial<Record<ListenerName, number>> = {};
  try {
    for (const [name, port] of Object.entries(config.listeners)) {
      const listener = name as ListenerName;
      const server = new RelaySmtpServer({
        ...options(listener),
        ...sessionHandlers(ctx, listener),
      });
      server.on('error', (err) => log.debug({ err, listener }, 'smtp session error'));
      servers.set(listener, server);
      await new Promise<void>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(port, config.smtpHost, () => {
          server.server.off('error', reject);
          resolve();
        });
      });
      ports[listener] = (server.server.address() as AddressInfo).port;
      log.info({ listener, host: config.smtpHost, port: ports[listener] }, 'smtp listening');
    }
  } catch (err) {
    for (const server of servers.values()) server.server.close();
    certificates?.stop();
    ctx.store.stop();
    throw err;
  }

  pools.onChange(() => {
    const size = maxSize();
    for (const server of servers.values()) server.options.size = size;
  });
  certificates?.onChange((pair) => {
    for (const server of servers.values()) server.updateSecureContext(pair);
  });

  const first = ports.relay ?? (Object.values(ports)[0] as number);
  return {
    ports,
    port: first,
    async close() {
      const closed = [...servers.values()].map(
        (server) =>
          new Promise<void>((resolve) => {
            server.server.close(() => resolve());
            // TLS handshakes in progress have no session that could finish.
            for (const socket of server._pendingSockets.values()) socket.destroy();
          }),
      );
      await ctx.tracker.shutdown(config.drainTimeoutMs);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(closed),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, SOCKET_CLOSE_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
      certificates?.stop();
      ctx.store.stop();
    },
  };
}
