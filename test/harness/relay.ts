/**
 * A relay under test: the local stack (own nats-server and redis-server on free ports,
 * the three services as processes) with a pool whose mail for `example.test` goes to a
 * real SMTP receiver on a loopback address, plus a subscription to delivery events.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeliveryEvent, RelayPoolResource, RelayPoolSpec } from '@hikyaku/core';
import { codecs, SUBJECTS } from '@hikyaku/core';
import { type LocalStack, startLocalStack } from '@hikyaku/local';
import type { RestartEvent } from '@hikyaku/testing';
import { freePort, type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createTransport } from 'nodemailer';

export interface RelayFixture {
  stack: LocalStack;
  sink: SmtpSink;
  events: DeliveryEvent[];
  dataDir: string;
  stop(): Promise<void>;
}

export function testPool(
  overrides: Partial<RelayPoolSpec> & {
    sinkHost: string;
    sinkPort: number;
    /** Routes besides example.test's to the sink. */
    extraRoutes?: RelayPoolSpec['routes'];
  },
): RelayPoolResource {
  const { sinkHost, sinkPort, extraRoutes, ...spec } = overrides;
  return {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'test', namespace: 'local' },
    spec: {
      allowedNetworks: ['127.0.0.0/8'],
      ips: [
        { address: '127.0.0.2', hostname: 'mta1.hikyaku.test' },
        { address: '127.0.0.3', hostname: 'mta2.hikyaku.test' },
      ],
      routes: [
        { domains: ['example.test'], host: `${sinkHost}:${sinkPort}` },
        ...(extraRoutes ?? []),
      ],
      retry: { schedule: ['1s'], maxAge: '1h' },
      // Shaping is not what these tests are about: a catch-all that never holds mail back.
      ratePolicies: [
        {
          name: 'default',
          perIp: { messagesPerMinute: 1_000_000, connections: 10, messagesPerConnection: 1000 },
        },
      ],
      ...spec,
    },
  };
}

export async function startRelayFixture(
  options: {
    sinkHost?: string;
    spec?: Partial<RelayPoolSpec>;
    /** Routes besides example.test's to the fixture's sink. */
    extraRoutes?: RelayPoolSpec['routes'];
    env?: Record<string, string>;
    /** The secret of the pool's feedback.signingKeyFile (pools with feedback). */
    feedbackSecret?: string;
    verbose?: boolean;
    /** Run on these NATS servers (a cluster) instead of a nats-server of its own. */
    natsUrl?: string;
    streamReplicas?: number;
    /** Use this Redis (e.g. through Sentinel) instead of a redis-server of its own. */
    redisUrl?: string;
    /** Every line the services and servers write. */
    onOutput?: (name: string, line: string) => void;
    /** Restart what exits unexpectedly, as local mode does. */
    supervise?: (event: RestartEvent) => void;
  } = {},
): Promise<RelayFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-test-'));
  const sinkHost = options.sinkHost ?? '127.0.0.10';
  const sink = await startSmtpSink({ host: sinkHost, port: 0 });
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      pool: testPool({
        sinkHost,
        sinkPort: sink.port,
        ...options.spec,
        ...(options.extraRoutes ? { extraRoutes: options.extraRoutes } : {}),
      }),
      dataDir,
      smtpPort: await freePort(),
      ...(options.feedbackSecret !== undefined ? { feedbackSecret: options.feedbackSecret } : {}),
      ...(options.natsUrl ? { natsUrl: options.natsUrl } : {}),
      ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
      ...(options.streamReplicas ? { streamReplicas: options.streamReplicas } : {}),
      ...(options.supervise ? { supervise: options.supervise } : {}),
      env: {
        HIKYAKU_LOG_LEVEL: options.verbose ? 'info' : 'warn',
        // The tests read acceptance and planning from the live notices.
        HIKYAKU_PROGRESS_EVENTS: 'true',
        ...options.env,
      },
      onOutput: (name, line) => {
        options.onOutput?.(name, line);
        if (options.verbose || /"level":(50|60)/.test(line)) {
          process.stderr.write(`[${name}] ${line}\n`);
        }
      },
    });
  } catch (err) {
    await sink.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const events: DeliveryEvent[] = [];
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: stack.natsUrl.split(','), maxReconnectAttempts: -1 });
  } catch (err) {
    await stack.stop();
    await sink.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  // Stored events, and the acceptance and planning published for live watchers only.
  for (const subject of [SUBJECTS.eventAll, SUBJECTS.progressAll]) {
    const sub = nc.subscribe(subject);
    (async () => {
      for await (const m of sub) events.push(codecs.event.decode(m.data));
    })().catch(() => undefined);
  }
  return {
    stack,
    sink,
    events,
    dataDir,
    async stop() {
      await nc.close().catch(() => undefined);
      await stack.stop();
      await sink.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A raw RFC 5322 message with CRLF line ends and a unique marker in the Subject. */
export function rawMessage(options: {
  from: string;
  to: string;
  marker: string;
  bodyBytes?: number;
}): Buffer {
  const lines = [
    `From: <${options.from}>`,
    `To: <${options.to}>`,
    `Subject: test ${options.marker}`,
    `Message-ID: <${options.marker}@client.hikyaku.test>`,
    'Date: Mon, 30 Nov 2026 00:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
  ];
  const body: string[] = [];
  let size = 0;
  const target = options.bodyBytes ?? 512;
  let i = 0;
  while (size < target) {
    // A dot at the start of some lines exercises dot-stuffing on both hops.
    const line = `${i % 7 === 0 ? '.' : ''}${options.marker} line ${i} ${'x'.repeat(60)}`;
    body.push(line);
    size += line.length + 2;
    i++;
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n${body.join('\r\n')}\r\n`);
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The message as the client sent it: the relay's own Received header removed. */
export function withoutRelayTrace(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  if (!text.startsWith('Received: ')) return raw;
  let end = text.indexOf('\r\n') + 2;
  while (text[end] === ' ' || text[end] === '\t') end = text.indexOf('\r\n', end) + 2;
  if (!text.slice(0, end).includes('(hikyaku)')) return raw;
  return raw.subarray(end);
}

/** An SMTP client session pool aimed at the relay. */
export function relayClient(stack: LocalStack, maxConnections = 5) {
  return createTransport({
    host: stack.smtpHost,
    port: stack.smtpPort,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections,
    maxMessages: 1000,
  });
}
