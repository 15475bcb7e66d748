/**
 * The SMTP front door. It answers 250 only after JetStream acknowledged both the body and
 * the envelope, and 451 4.3.0 when it cannot store; it relays only for clients that a pool
 * allows.
 */
import type { AddressInfo } from 'node:net';
import { nuid } from '@nats-io/transport-node';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import {
  type BodyStore,
  type CompiledPool,
  codecs,
  type Envelope,
  type Logger,
  METRICS,
  MSG_IDS,
  type NatsHandles,
  type PoolDirectory,
  SUBJECTS,
} from '../../core/src/index.ts';
import type { IngressConfig } from './config.ts';
import { createPoolSelector } from './pool-select.ts';
import { receivedHeader } from './received.ts';
import { type RefusalReason, SmtpReplyError } from './smtp-errors.ts';

export interface Ingress {
  readonly port: number;
  /** Stop accepting connections; sessions in DATA may finish, then 421 to the rest. */
  close(): Promise<void>;
}

interface SessionState {
  pool: CompiledPool;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not acknowledged within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startIngress(deps: {
  config: IngressConfig;
  nats: NatsHandles;
  bodies: BodyStore;
  pools: PoolDirectory;
  log: Logger;
  registry: Registry;
  now?: () => number;
}): Promise<Ingress> {
  const { config, nats, bodies, pools, log, registry } = deps;
  const now = deps.now ?? Date.now;
  const selector = createPoolSelector();
  const sessions = new WeakMap<SMTPServerSession, SessionState>();
  let natsUp = !nats.nc.isClosed();
  let closing = false;

  (async () => {
    for await (const status of nats.nc.status()) {
      if (status.type === 'disconnect') natsUp = false;
      if (status.type === 'reconnect') natsUp = true;
    }
  })().catch(() => undefined);

  const metrics = {
    sessions: new Counter({
      name: METRICS.ingressSessions,
      help: 'SMTP sessions opened',
      labelNames: ['listener'],
      registers: [registry],
    }),
    active: new Gauge({
      name: METRICS.ingressActiveSessions,
      help: 'SMTP sessions open now',
      registers: [registry],
    }),
    accepted: new Counter({
      name: METRICS.ingressAccepted,
      help: 'Messages accepted (answered 250)',
      labelNames: ['pool'],
      registers: [registry],
    }),
    refused: new Counter({
      name: METRICS.ingressRefused,
      help: 'Commands or messages refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: METRICS.ingressAcceptLatency,
      help: 'Time from end of DATA to the 250 reply',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    size: new Histogram({
      name: METRICS.ingressMessageSize,
      help: 'Size of accepted messages in bytes',
      buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 33554432],
      registers: [registry],
    }),
  };

  function refuse(reason: RefusalReason, detail?: string): SmtpReplyError {
    metrics.refused.inc({ reason });
    return new SmtpReplyError(reason, detail);
  }

  function maxSize(): number {
    return Math.max(0, ...pools.all().map((p) => p.maxMessageSize)) || 26_214_400;
  }

  async function store(
    session: SMTPServerSession,
    pool: CompiledPool,
    raw: Buffer,
  ): Promise<string> {
    const id = nuid.next();
    const rcpts = session.envelope.rcptTo.map((r) => r.address);
    const header = receivedHeader({
      clientHelo: session.hostNameAppearsAs,
      clientAddress: session.remoteAddress,
      hostname: config.hostname,
      queueId: id,
      secure: session.secure,
      tls: {
        version: session.tlsOptions ? session.tlsOptions.version : undefined,
        cipher: session.tlsOptions ? session.tlsOptions.name : undefined,
      },
      rcptCount: rcpts.length,
      ...(rcpts[0] ? { firstRcpt: rcpts[0] } : {}),
      now: new Date(now()),
    });
    const body = Buffer.concat([Buffer.from(header), raw]);
    const bodyRef = await withTimeout(bodies.put(id, body), config.storeTimeoutMs, 'body');
    const envelope: Envelope = {
      v: 1,
      id,
      pool: pool.key,
      receivedAt: now(),
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      rcpts,
      body: bodyRef,
      clientAddress: session.remoteAddress,
      ...(session.user ? { submitter: String(session.user) } : {}),
    };
    await withTimeout(
      nats.js.publish(SUBJECTS.envelope(pool.key), codecs.envelope.encode(envelope), {
        msgID: MSG_IDS.envelope(id),
      }),
      config.storeTimeoutMs,
      'envelope',
    );
    return id;
  }

  const server = new SMTPServer({
    name: config.hostname,
    banner: 'hikyaku ESMTP',
    // Trusted applications reach the relay; reverse lookups would add a DNS round trip
    // to every connection for no decision.
    disableReverseLookup: true,
    hideSTARTTLS: true,
    authOptional: true,
    disabledCommands: ['AUTH'],
    size: maxSize(),
    maxClients: config.maxClients,
    socketTimeout: config.socketTimeoutMs,
    logger: false,
    onConnect(_session, callback) {
      if (closing) {
        callback(refuse('shuttingDown'));
        return;
      }
      metrics.sessions.inc({ listener: 'smtp' });
      metrics.active.inc();
      callback();
    },
    onClose() {
      metrics.active.dec();
    },
    onMailFrom(address, session, callback) {
      const pool = selector.byNetwork(pools.all(), session.remoteAddress);
      if (!pool) {
        callback(refuse('authRequired'));
        return;
      }
      const declared = Number(address.args && (address.args as Record<string, string>).SIZE);
      if (Number.isFinite(declared) && declared > pool.maxMessageSize) {
        callback(refuse('messageTooBig'));
        return;
      }
      sessions.set(session, { pool });
      callback();
    },
    onRcptTo(address, session, callback) {
      const state = sessions.get(session);
      if (!state) {
        callback(refuse('authRequired'));
        return;
      }
      if (!domainOf(address.address)) {
        callback(refuse('badRecipient'));
        return;
      }
      if (session.envelope.rcptTo.length >= state.pool.maxRecipients) {
        callback(refuse('tooManyRecipients'));
        return;
      }
      callback();
    },
    onData(stream: SMTPServerDataStream, session, callback) {
      const started = now();
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const state = sessions.get(session);
        if (!state) {
          callback(refuse('authRequired'));
          return;
        }
        const raw = Buffer.concat(chunks);
        if (stream.sizeExceeded || raw.length > state.pool.maxMessageSize) {
          callback(refuse('messageTooBig'));
          return;
        }
        if (!natsUp || nats.nc.isClosed()) {
          callback(refuse('storeUnavailable'));
          return;
        }
        store(session, state.pool, raw).then(
          (id) => {
            metrics.accepted.inc({ pool: state.pool.key });
            metrics.size.observe(raw.length);
            metrics.latency.observe((now() - started) / 1000);
            callback(null, `2.0.0 Ok: queued as ${id}`);
          },
          (err: unknown) => {
            log.warn({ err }, 'could not store message; answering 451');
            callback(refuse('storeUnavailable'));
          },
        );
      });
    },
  });
  server.on('error', (err) => log.debug({ err }, 'smtp session error'));

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(config.smtpPort, config.smtpHost, () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  log.info({ host: config.smtpHost, port }, 'smtp listening');

  return {
    port,
    close: () => {
      closing = true;
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
