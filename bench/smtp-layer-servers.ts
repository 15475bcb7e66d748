/**
 * The two SMTP servers `bench/smtp-layer.ts` sets side by side, each answering every
 * message 250 and keeping nothing:
 *
 * - `ingress-layer`: the ingress's SMTP layer — smtp-server with the ingress's overrides
 *   (RelaySmtpServer: the greeting at once, QUIT hanging up, connections named by a
 *   count) and its listener's options — without the ingress's own work (no pool, limits,
 *   suppression lookup, added header fields or store);
 * - `socket`: a responder written on `node:net` alone, which speaks just the SMTP a plain
 *   client needs (greeting, EHLO/HELO, MAIL, RCPT, DATA to its terminating dot, RSET, NOOP,
 *   QUIT). It is the floor: what Node's sockets and the kernel cost for the same exchange.
 *   It is no server to use (no limits, no checks of what it is told).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { RelaySmtpServer } from '@hikyaku/ingress';

export const SMTP_LAYER_SERVERS = ['ingress-layer', 'socket'] as const;
export type SmtpLayerServer = (typeof SMTP_LAYER_SERVERS)[number];

export interface RunningSmtpLayerServer {
  readonly port: number;
  /** Messages answered 250 so far. */
  messages(): number;
  close(): Promise<void>;
}

const HOSTNAME = 'smtp-layer.bench.test';
const TERMINATOR = Buffer.from('\r\n.\r\n');

function listening(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

function closed(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The socket floor: one object per connection, replies written as whole lines. */
export async function startSocketResponder(
  host: string,
  port: number,
): Promise<RunningSmtpLayerServer> {
  let messages = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let lines = '';
    /** In DATA: the last bytes seen, so a terminator split across reads is found. */
    let dataTail: Buffer | undefined;
    const onLine = (line: string): void => {
      const verb = line.slice(0, 4).toUpperCase();
      switch (verb) {
        case 'EHLO':
          socket.write(`250-${HOSTNAME}\r\n250-8BITMIME\r\n250 SIZE 26214400\r\n`);
          return;
        case 'DATA':
          // The DATA line's own CRLF begins the terminator of an empty message.
          dataTail = Buffer.from('\r\n');
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
          return;
        case 'QUIT':
          socket.end('221 2.0.0 Bye\r\n');
          return;
        case 'HELO':
        case 'MAIL':
        case 'RCPT':
        case 'RSET':
        case 'NOOP':
          socket.write('250 2.0.0 OK\r\n');
          return;
        default:
          socket.write('502 5.5.2 Command not implemented\r\n');
      }
    };
    const onData = (chunk: Buffer): void => {
      if (dataTail) {
        // Only the terminator matters: it is looked for where the last read ended, then in
        // this one; the message itself is never copied.
        const seam = Buffer.concat([dataTail, chunk.subarray(0, TERMINATOR.length - 1)]);
        const atSeam = seam.indexOf(TERMINATOR);
        const inChunk = atSeam === -1 ? chunk.indexOf(TERMINATOR) : -1;
        if (atSeam === -1 && inChunk === -1) {
          dataTail =
            chunk.length >= TERMINATOR.length - 1
              ? chunk.subarray(chunk.length - (TERMINATOR.length - 1))
              : seam.subarray(Math.max(0, seam.length - (TERMINATOR.length - 1)));
          return;
        }
        const restFrom =
          atSeam !== -1
            ? atSeam + TERMINATOR.length - dataTail.length
            : inChunk + TERMINATOR.length;
        dataTail = undefined;
        messages += 1;
        socket.write('250 2.0.0 Ok: queued\r\n');
        const rest = chunk.subarray(restFrom);
        if (rest.length > 0) onData(rest);
        return;
      }
      lines += chunk.toString('latin1');
      for (let cut = lines.indexOf('\r\n'); cut !== -1; cut = lines.indexOf('\r\n')) {
        const line = lines.slice(0, cut);
        lines = lines.slice(cut + 2);
        onLine(line);
        if (dataTail) {
          // What followed DATA in the same read is the message (a client that pipelines).
          const rest = Buffer.from(lines, 'latin1');
          lines = '';
          if (rest.length > 0) onData(rest);
          return;
        }
      }
    };
    socket.on('data', onData);
    socket.write(`220 ${HOSTNAME} ESMTP\r\n`);
  });
  const bound = await listening(server, host, port);
  return {
    port: bound,
    messages: () => messages,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await closed(server);
    },
  };
}

/** The ingress's SMTP layer with every hook accepting and every message drained. */
export async function startIngressLayer(
  host: string,
  port: number,
): Promise<RunningSmtpLayerServer> {
  let messages = 0;
  const server = new RelaySmtpServer({
    name: HOSTNAME,
    banner: 'hikyaku',
    hideSTARTTLS: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    hideREQUIRETLS: true,
    size: 26_214_400,
    disableReverseLookup: true,
    logger: false,
    onHelo: () => undefined,
    onAddressCommand: () => undefined,
    onNoopIdle: () => ({ responseCode: 421, message: '4.4.2 Idle, closing' }),
    greetingPauseMs: () => 0,
    onData(stream, _session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => {
        messages += 1;
        callback();
      });
    },
  });
  server.on('error', () => {});
  // SMTPServer.listen is its net.Server's.
  const bound = await listening(server.server, host, port);
  return {
    port: bound,
    messages: () => messages,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function startSmtpLayerServer(
  kind: SmtpLayerServer,
  host: string,
  port: number,
): Promise<RunningSmtpLayerServer> {
  return kind === 'socket' ? startSocketResponder(host, port) : startIngressLayer(host, port);
}
