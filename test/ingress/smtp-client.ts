/**
 * A raw SMTP client for tests that need to see every reply line, send malformed input or
 * control exactly which bytes go on the wire (nodemailer and swaks normalise what they
 * send). Replies are read as they arrive, so pipelined commands can be checked one by one.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

export interface Reply {
  code: number;
  /** Every line without the "250-" / "250 " prefix. */
  lines: string[];
  /** The last line as sent, code included: "250 2.0.0 Ok: queued as …". */
  line: string;
}

export interface ClientOptions {
  host?: string;
  port: number;
  /** Source address (127.0.0.x), to be inside or outside a pool's allowedNetworks. */
  localAddress?: string;
  /** Implicit TLS (port 465). */
  tls?: boolean;
  /** Trust anchor for TLS; without it any certificate is accepted. */
  ca?: Buffer;
  /** Written as soon as the connection is up, before the greeting is read (early talkers). */
  beforeGreeting?: string;
}

export class SmtpClient {
  private socket: Socket | TLSSocket;
  private buffer = '';
  private readonly replies: Reply[] = [];
  private readonly waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private partial: string[] = [];
  private ended = false;
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
    this.attach(socket);
  }

  static async open(options: ClientOptions): Promise<{ client: SmtpClient; greeting: Reply }> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.tls
      ? tlsConnect({
          host,
          port: options.port,
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
          servername: 'localhost',
          ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
        })
      : netConnect({
          host,
          port: options.port,
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new SmtpClient(socket);
    if (options.beforeGreeting !== undefined) client.write(options.beforeGreeting);
    const greeting = await client.read();
    return { client, greeting };
  }

  get tlsSocket(): TLSSocket | undefined {
    return 'getPeerCertificate' in this.socket ? (this.socket as TLSSocket) : undefined;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('connection closed'));
      this.markClosed();
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end < 0) return;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.partial.push(line.slice(4));
      if (line[3] === '-') continue;
      const reply: Reply = { code: Number(line.slice(0, 3)), lines: this.partial, line };
      this.partial = [];
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(reply);
      else this.replies.push(reply);
    }
  }

  /** The next reply; rejects when the connection closes first. */
  read(): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.ended) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  async command(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  async ehlo(name = 'client.hikyaku.test'): Promise<Reply> {
    return this.command(`EHLO ${name}`);
  }

  /** STARTTLS and the handshake; the caller sends EHLO again afterwards. */
  async startTls(ca?: Buffer): Promise<Reply> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) return reply;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = tlsConnect({
      socket: plain,
      servername: 'localhost',
      ...(ca ? { ca } : { rejectUnauthorized: false }),
    });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return reply;
  }

  /** AUTH PLAIN with an initial response. */
  async authPlain(username: string, password: string): Promise<Reply> {
    const token = Buffer.from(`\0${username}\0${password}`).toString('base64');
    return this.command(`AUTH PLAIN ${token}`);
  }

  /** Sends MAIL, RCPT… and DATA with a message; returns the reply to the message. */
  async send(from: string, to: string[], message: string | Buffer): Promise<Reply> {
    const mail = await this.command(`MAIL FROM:<${from}>`);
    if (mail.code !== 250) return mail;
    let accepted = 0;
    for (const rcpt of to) if ((await this.command(`RCPT TO:<${rcpt}>`)).code === 250) accepted++;
    if (accepted === 0) {
      await this.command('RSET');
      return { code: 554, lines: ['no recipient accepted'], line: '554 no recipient accepted' };
    }
    const data = await this.command('DATA');
    if (data.code !== 354) return data;
    this.write(message);
    this.write('\r\n.\r\n');
    return this.read();
  }

  close(): void {
    this.socket.destroy();
  }

  async quit(): Promise<void> {
    this.write('QUIT\r\n');
    await this.closed;
  }
}

/** Opens a session and says EHLO; the greeting must be 220. */
export async function session(options: ClientOptions): Promise<SmtpClient> {
  const { client, greeting } = await SmtpClient.open(options);
  if (greeting.code !== 220) throw new Error(`greeting: ${greeting.line}`);
  await client.ehlo();
  return client;
}

/** A message with CRLF line ends; the marker goes into the Subject. */
export function message(marker: string, extraHeaders: string[] = []): string {
  return [
    'From: <app@hikyaku.test>',
    'To: <someone@example.test>',
    `Subject: ${marker}`,
    'Date: Mon, 30 Nov 2026 00:00:00 +0000',
    `Message-ID: <${marker}@client.hikyaku.test>`,
    ...extraHeaders,
    '',
    `body of ${marker}`,
  ].join('\r\n');
}
