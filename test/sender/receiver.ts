/**
 * Receiving MTAs for the sender's tests, on loopback addresses. Each records what a receiver
 * observes — the peer address, the EHLO name, TLS, every connection — and can be told to
 * greet with an error, refuse recipients, offer STARTTLS or not, or stall in the middle of
 * a message. Open connections are counted from the TCP accept until the client closes its
 * side, which is the moment the client considers the connection gone.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { freePort, type ReceivedDsn, receivedDsn } from '@hikyaku/testing';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface Reply {
  code: number;
  message: string;
}

/** The DSN parameters a receiver that offers DSN was given (RFC 3461), xtext-decoded. */
export interface Received {
  from: string;
  rcpts: string[];
  /** Present when the receiver offers DSN. */
  dsn?: ReceivedDsn;
  /** The parameters of MAIL FROM and of each RCPT TO, as received (names upper case). */
  args: { mail: Record<string, string | true>; rcpts: Record<string, string | true>[] };
  raw: Buffer;
  peerAddress: string;
  ehlo: string;
  secure: boolean;
  tls: { version: string; cipher: string } | undefined;
  connectionId: string;
  queueId: string;
}

export interface ReceiverBehaviour {
  /** Greet with this reply instead of 220, and close. */
  greeting?: Reply;
  rcpt?: (rcpt: string) => Reply | undefined;
  /** Read the first part of the message and then nothing more, never replying. */
  stallData?: boolean;
  /** Read the whole message, but reply only once this settles. */
  holdReply?: Promise<void>;
  /** Read the whole message, then wait this long before replying: a slow receiver. */
  replyDelayMs?: number;
  /**
   * Drop the connection without a word at MAIL FROM of a connection's second transaction,
   * as a server does whose idle timeout struck just as the client reused the connection.
   */
  dropReused?: boolean;
}

export interface Receiver {
  readonly host: string;
  readonly port: number;
  readonly messages: Received[];
  /** TCP connections accepted, open now and open at most at once; peer address of each. */
  readonly stats: { connections: number; open: number; maxOpen: number; peers: string[] };
  /** Number of messages that reached DATA and stalled there. */
  readonly stalled: number;
  /** Number of messages read in full whose reply is being held. */
  readonly held: number;
  /** With `recordWire`: every byte each connection's client sent, in the order accepted. */
  readonly wire: Buffer[][];
  setBehaviour(behaviour: ReceiverBehaviour): void;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  host: string;
  port: number;
  /** Offer STARTTLS (smtp-server's built-in self-signed certificate unless `certificate`). */
  starttls?: boolean;
  /** The key and certificate STARTTLS presents, e.g. issued by a test CA. */
  certificate?: { key: Buffer; cert: Buffer };
  /** Offer STARTTLS but only TLS versions no current client accepts: the handshake fails. */
  brokenTls?: boolean;
  /** Offer DSN and record the parameters each transaction came with. */
  dsn?: boolean;
  /** Keep the bytes clients send as they arrive (clear text: before any STARTTLS). */
  recordWire?: boolean;
  behaviour?: ReceiverBehaviour;
}

function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function refusal(reply: Reply): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  let behaviour: ReceiverBehaviour = options.behaviour ?? {};
  const messages: Received[] = [];
  const stats = { connections: 0, open: 0, maxOpen: 0, peers: [] as string[] };
  const wire: Buffer[][] = [];
  /** Open sockets by the client's address and port. */
  const sockets = new Map<string, Socket>();
  let stalled = 0;
  let held = 0;
  let queued = 0;
  const tls = options.starttls === true || options.brokenTls === true;

  const server = new SMTPServer({
    name: `mx.${options.host}`,
    authOptional: true,
    disableReverseLookup: true,
    hideSTARTTLS: !tls,
    hideDSN: options.dsn !== true,
    disabledCommands: tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(options.brokenTls ? { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' } : {}),
    ...(options.certificate
      ? { key: options.certificate.key, cert: options.certificate.cert }
      : {}),
    size: 64 * 1024 * 1024,
    logger: false,
    onConnect(_session, callback) {
      const greeting = behaviour.greeting;
      callback(greeting ? refusal(greeting) : undefined);
    },
    onMailFrom(_address, session, callback) {
      if (behaviour.dropReused && session.transaction > 1) {
        sockets.get(`${session.remoteAddress}:${session.remotePort}`)?.destroy();
        return;
      }
      callback();
    },
    onRcptTo(address, _session, callback) {
      const reply = behaviour.rcpt?.(address.address);
      callback(reply ? refusal(reply) : undefined);
    },
    onData(stream, session: SMTPServerSession, callback) {
      if (behaviour.stallData) {
        stream.once('data', () => {
          stream.pause();
          stalled++;
        });
        return;
      }
      const hold = behaviour.holdReply;
      const delayMs = behaviour.replyDelayMs;
      readAll(stream).then(async (raw) => {
        if (hold) {
          held++;
          await hold;
        }
        if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
        const queueId = `Q${options.host.replace(/\./g, '')}x${++queued}`;
        const cipher = session.tlsOptions || undefined;
        const dsn = receivedDsn(session);
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcpts: session.envelope.rcptTo.map((r) => r.address),
          args: {
            mail: session.envelope.mailFrom ? session.envelope.mailFrom.args || {} : {},
            rcpts: session.envelope.rcptTo.map((r) => r.args || {}),
          },
          ...(dsn ? { dsn } : {}),
          raw,
          peerAddress: session.remoteAddress.replace(/^::ffff:/, ''),
          ehlo: session.hostNameAppearsAs,
          secure: session.secure,
          tls: cipher ? { version: cipher.version, cipher: cipher.name } : undefined,
          connectionId: session.id,
          queueId,
        });
        callback(null, `2.0.0 Ok: queued as ${queueId}`);
      }, callback);
    },
  });
  server.on('error', () => {
    // Resets by the client are part of the tests; they must not end the receiver.
  });
  server.server.on('connection', (socket: Socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(peer, socket);
    stats.connections++;
    stats.open++;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    stats.peers.push((socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
    if (options.recordWire) {
      const chunks: Buffer[] = [];
      wire.push(chunks);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    }
    let counted = true;
    const gone = (): void => {
      if (!counted) return;
      counted = false;
      stats.open--;
    };
    socket.once('end', gone);
    socket.once('close', () => {
      gone();
      sockets.delete(peer);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });

  return {
    host: options.host,
    port: options.port,
    messages,
    stats,
    wire,
    get stalled() {
      return stalled;
    },
    get held() {
      return held;
    },
    setBehaviour(next) {
      behaviour = next;
    },
    close() {
      for (const socket of sockets.values()) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Receivers on several loopback addresses, all on one port (the sender's MX port). */
export async function startReceivers(
  hosts: readonly string[],
  options: Omit<ReceiverOptions, 'host' | 'port'> = {},
): Promise<Receiver[]> {
  for (let tries = 0; ; tries++) {
    const port = await freePort(hosts[0]);
    const started: Receiver[] = [];
    try {
      for (const host of hosts) started.push(await startReceiver({ ...options, host, port }));
      return started;
    } catch (err) {
      await Promise.all(started.map((r) => r.close()));
      if (tries >= 5) throw err;
    }
  }
}
