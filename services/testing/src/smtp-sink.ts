/**
 * A receiving SMTP server: the capture sink of local mode (writes .eml files) and the
 * receiver the tests and the benchmark deliver to. It records what a receiving MTA sees —
 * the peer address, the EHLO name, the envelope and the raw message — and lets the caller
 * decide the replies, so deferrals and refusals can be staged.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

/** The DSN parameters (RFC 3461, xtext-decoded) a receiver was given in one transaction. */
export interface ReceivedDsn {
  ret: string | null;
  envid: string | null;
  rcpts: { address: string; notify?: string[]; orcpt?: string }[];
}

/** The DSN parameters of the transaction in `session`, when the client gave any. */
export function receivedDsn(session: SMTPServerSession): ReceivedDsn | undefined {
  const dsn = session.envelope.dsn;
  if (!dsn) return undefined;
  return {
    ret: dsn.ret,
    envid: dsn.envid,
    rcpts: session.envelope.rcptTo.map((r) => ({ address: r.address, ...r.dsn })),
  };
}

export interface ReceivedMessage {
  from: string;
  rcpts: string[];
  /**
   * The DSN parameters of the transaction (RFC 3461, xtext-decoded), when the sink offers
   * DSN: what a relay passed on.
   */
  dsn?: ReceivedDsn;
  raw: Buffer;
  peerAddress: string;
  ehlo: string;
  connectionId: string;
  secure: boolean;
  receivedAt: number;
}

/** A reply the sink should give instead of accepting; code >= 400. */
export interface SinkReply {
  code: number;
  message: string;
}

export interface SinkBehaviour {
  /** Called at RCPT TO; return a reply to refuse that recipient. */
  onRcpt?: (rcpt: string, session: SMTPServerSession) => SinkReply | undefined;
  /** Called after DATA was read; return a reply to refuse the message. */
  onData?: (message: ReceivedMessage) => SinkReply | undefined;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  readonly messages: ReceivedMessage[];
  /** Connections ever opened, and the largest number open at once. */
  readonly stats: { connections: number; open: number; maxOpen: number };
  setBehaviour(behaviour: SinkBehaviour): void;
  close(): Promise<void>;
}

export async function startSmtpSink(options: {
  host: string;
  port: number;
  name?: string;
  onMessage?: (message: ReceivedMessage) => void | Promise<void>;
  /** Keep messages in memory (tests); off for the benchmark and local mode. */
  keep?: boolean;
  behaviour?: SinkBehaviour;
  tls?: { key: Buffer; cert: Buffer };
  /** Offer DSN, as a next hop that takes over delivery reports does. */
  dsn?: boolean;
}): Promise<SmtpSink> {
  const messages: ReceivedMessage[] = [];
  const stats = { connections: 0, open: 0, maxOpen: 0 };
  let behaviour: SinkBehaviour = options.behaviour ?? {};
  let queueCounter = 0;

  const server = new SMTPServer({
    name: options.name ?? 'sink.hikyaku.test',
    authOptional: true,
    disableReverseLookup: true,
    hideSTARTTLS: !options.tls,
    hideDSN: options.dsn !== true,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    size: 64 * 1024 * 1024,
    logger: false,
    onConnect(_session, callback) {
      stats.connections++;
      stats.open++;
      stats.maxOpen = Math.max(stats.maxOpen, stats.open);
      callback();
    },
    onClose() {
      stats.open--;
    },
    onRcptTo(address, session, callback) {
      const reply = behaviour.onRcpt?.(address.address, session);
      if (reply) {
        callback(Object.assign(new Error(reply.message), { responseCode: reply.code }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const dsn = receivedDsn(session);
        const message: ReceivedMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcpts: session.envelope.rcptTo.map((r) => r.address),
          ...(dsn ? { dsn } : {}),
          raw: Buffer.concat(chunks),
          peerAddress: session.remoteAddress.replace(/^::ffff:/, ''),
          ehlo: session.hostNameAppearsAs,
          connectionId: session.id,
          secure: session.secure,
          receivedAt: Date.now(),
        };
        const reply = behaviour.onData?.(message);
        if (reply) {
          callback(Object.assign(new Error(reply.message), { responseCode: reply.code }));
          return;
        }
        if (options.keep !== false) messages.push(message);
        const queueId = `SINK${(++queueCounter).toString(36).toUpperCase()}`;
        Promise.resolve(options.onMessage?.(message)).then(
          () => callback(null, `2.0.0 Ok: queued as ${queueId}`),
          (err: unknown) => callback(err as Error),
        );
      });
    },
  });
  server.on('error', () => {
    // Client resets are normal for a receiver; they must not crash the sink.
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    host: options.host,
    port,
    messages,
    stats,
    setBehaviour(next) {
      behaviour = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
