/**
 * One SMTP client session from an assigned source address to one address of a destination
 * host. The TCP connection is opened here (bound to the source address, with the connect
 * timeout), then nodemailer's SMTPConnection speaks SMTP over it: greeting, EHLO with the
 * IP's hostname, STARTTLS whenever it is offered, then any number of transactions.
 *
 * Timeouts follow Postfix's split: connecting, the greeting (with EHLO and STARTTLS), each
 * command, and the message transfer up to the reply to its final dot. A session that fails
 * is destroyed at once; the caller never has to guess whether it can be used again.
 */
import { isAscii } from 'node:buffer';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { checkServerIdentity, TLSSocket } from 'node:tls';
import type { EnvelopeDsn, RecipientDsn } from '@hikyaku/core';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SenderSmtpConnection } from './smtp-client.ts';

export { checkSmtpClientHooks } from './smtp-client.ts';

export interface SessionTimeouts {
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
}

export interface SessionTarget {
  /** Source address the connection is bound to; absent: the system picks it. */
  localAddress?: string;
  /** Name sent with EHLO: the source address's hostname. */
  ehloName: string;
  /** The destination host's name (SNI, certificate checks, logs). */
  host: string;
  /** The address connected to. */
  address: string;
  port: number;
}

export interface SessionOptions extends SessionTimeouts {
  /** Refuse a certificate presented after STARTTLS that does not verify. */
  tlsVerify: boolean;
  /**
   * Trusted CAs in PEM (Node's default store plus an extra bundle); absent: the default
   * store. Whether or not a failure is refused, every session knows whether its certificate
   * verified (see SmtpSession.certificate).
   */
  ca?: readonly string[];
  /** Do not use STARTTLS even when offered (the retry after a failed handshake). */
  ignoreTls?: boolean;
  /**
   * Pipeline MAIL FROM, the RCPT TOs and DATA (RFC 2920) when the server offers PIPELINING;
   * absent: true.
   */
  pipelining?: boolean;
}

export interface TlsInfo {
  version: string;
  cipher: string;
}

/** Whether the certificate of a TLS session verified for the destination host's name. */
export interface CertificateCheck {
  /** The chain leads to a trusted CA and the certificate names the host. */
  verified: boolean;
  /** Why it did not verify (an OpenSSL code such as DEPTH_ZERO_SELF_SIGNED_CERT, or the name mismatch). */
  error?: string;
}

/** Where in a session a failure happened: what may be retried elsewhere depends on it. */
export type SessionPhase = 'connect' | 'setup' | 'envelope' | 'data';

/** An error of nodemailer's SMTPConnection or of the socket, with the phase it ended. */
export interface SmtpFailure extends Error {
  code?: string;
  /** The system error behind a connection failure (ECONNREFUSED, ...). */
  originalCode?: string;
  timeoutType?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpFailure[];
  phase: SessionPhase;
}

export interface RecipientRefusal {
  rcpt: string;
  code: number;
  response: string;
}

export interface SendResult {
  accepted: string[];
  rejected: RecipientRefusal[];
  /** The reply to the final dot. */
  response: string;
}

/** One transaction's envelope, with the client's DSN parameters (RFC 3461) to pass on. */
export interface SendEnvelope {
  from: string;
  to: string[];
  /** RET and ENVID, sent on MAIL FROM when the server offers DSN. */
  dsn?: EnvelopeDsn;
  /** NOTIFY and ORCPT of the recipients that have any, sent on their RCPT TO likewise. */
  rcptDsn?: readonly RecipientDsn[];
}

export interface SmtpSession {
  readonly target: SessionTarget;
  readonly tls: TlsInfo | undefined;
  /** Absent in clear text. */
  readonly certificate: CertificateCheck | undefined;
  /** The server advertised DSN: the client's DSN parameters go with each transaction. */
  readonly dsn: boolean;
  /** MAIL FROM, the RCPT TOs and DATA of each transaction leave together (RFC 2920). */
  readonly pipelined: boolean;
  /** False once the connection failed or was closed. */
  readonly usable: boolean;
  /** Settles when the TCP connection is gone. */
  readonly closed: Promise<void>;
  /**
   * One transaction. Resolves when the message was accepted for at least one recipient;
   * rejects with an SmtpFailure otherwise, or with the signal's reason when aborted.
   */
  send(envelope: SendEnvelope, message: Buffer, signal?: AbortSignal): Promise<SendResult>;
  /** RSET after a refused transaction, so the session can carry the next one. */
  reset(): Promise<void>;
  /** QUIT when the session is usable, and wait until the connection is gone. */
  close(): Promise<void>;
  destroy(): void;
}

/** Most transactions carry no per-recipient DSN parameters: one empty map serves them all. */
const NO_RCPT_DSN: ReadonlyMap<string, RecipientDsn> = new Map();

function failure(err: unknown, phase: SessionPhase): SmtpFailure {
  const e = (err instanceof Error ? err : new Error(String(err))) as SmtpFailure;
  e.phase ??= phase;
  return e;
}

/**
 * A refused DATA or message ends the transaction with the server's reply for every recipient
 * accepted at RCPT TO; those it refused there keep their own reply (outcomes.ts reads them).
 */
function withRefusals(err: Error, refused: readonly Error[]): Error {
  const e = err as SmtpFailure;
  // nodemailer names DATA as the command of both. A refused MAIL FROM has no accepted
  // recipient, and the RCPT TO replies that follow it are no recipient's own.
  const afterRcpt = e.command === 'DATA' && e.responseCode !== undefined;
  if (afterRcpt && e.rejectedErrors === undefined && refused.length > 0) {
    e.rejectedErrors = refused as SmtpFailure[];
  }
  return err;
}

function openTcp(target: SessionTarget, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({
      host: target.address,
      port: target.port,
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    });
    const fail = (err: unknown): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      const err = new Error(`connection to ${target.address}:${target.port} timed out`);
      fail(
        failure(
          Object.assign(err, { code: 'ETIMEDOUT', timeoutType: 'CONNECT_TIMEOUT' }),
          'connect',
        ),
      );
    }, timeoutMs);
    // The abort reason is the caller's own error; it is passed on untouched.
    const onAbort = (): void => fail(signal?.reason);
    const onError = (err: Error): void => fail(failure(err, 'connect'));
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });
}

function tlsInfoOf(socket: unknown): TlsInfo | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const version = socket.getProtocol();
  const cipher = socket.getCipher()?.name;
  return version && cipher ? { version, cipher } : undefined;
}

function certificateOf(socket: unknown, host: string): CertificateCheck | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  // `authorized` covers the chain and, for a host name sent as SNI, Node's own name check;
  // the explicit check below also covers a session opened to an address.
  if (!socket.authorized) {
    return { verified: false, error: String(socket.authorizationError ?? 'not verified') };
  }
  const mismatch = checkServerIdentity(host, socket.getPeerCertificate());
  return mismatch ? { verified: false, error: mismatch.message } : { verified: true };
}

/** Opens a session; rejects with an SmtpFailure of phase 'connect' or 'setup'. */
export async function openSession(
  target: SessionTarget,
  options: SessionOptions,
  signal?: AbortSignal,
): Promise<SmtpSession> {
  const socket = await openTcp(target, options.connectTimeoutMs, signal);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // Failures reach the caller through nodemailer; after STARTTLS it listens on the TLS
  // socket only, and an error of the plain one underneath must not crash the process.
  socket.on('error', () => undefined);
  const conn = new SenderSmtpConnection({
    connection: socket,
    host: target.host,
    port: target.port,
    ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
    name: target.ehloName,
    secure: false,
    ignoreTLS: options.ignoreTls === true,
    // A STARTTLS the server refuses leaves the session in clear text rather than failing
    // it; the rate policy decides afterwards whether clear text will do.
    opportunisticTLS: true,
    tls: {
      rejectUnauthorized: options.tlsVerify,
      ...(options.ca ? { ca: [...options.ca] } : {}),
    },
    // The TCP connection is already open: what nodemailer calls the connection timeout
    // bounds the greeting, EHLO and STARTTLS.
    connectionTimeout: options.greetingTimeoutMs,
    greetingTimeout: options.greetingTimeoutMs,
    socketTimeout: options.commandTimeoutMs,
    logger: false,
  });
  conn.pipelining = options.pipelining !== false;

  let usable = false;
  let quitting = false;
  let phase: SessionPhase = 'setup';
  /** Rejects the operation in progress when the connection fails under it. */
  let interrupt: ((err: SmtpFailure) => void) | undefined;

  const end = (err?: unknown): void => {
    usable = false;
    if (err instanceof Error && conn.upgrading) {
      // nodemailer reports a failed handshake as a socket error; callers need to know it
      // was TLS (a clear-text retry may help, another address would not be any different).
      const e = err as SmtpFailure;
      e.originalCode ??= e.code;
      e.code = 'ETLS';
    }
    if (!quitting) socket.destroy();
    if (err) {
      interrupt?.(failure(err, phase));
      return;
    }
    // A close that nodemailer saw coming (a 421 reply) is reported to the operation right
    // after 'end', with the reply; only a close it had no error for is reported from here.
    const closedAt = phase;
    setImmediate(() => {
      const closed = new Error(`connection to ${target.host} closed`);
      interrupt?.(failure(Object.assign(closed, { code: 'ECONNECTION' }), closedAt));
    });
  };
  conn.on('error', (err: unknown) => end(err));
  conn.on('end', () => end());

  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal?.reason);
      conn.close();
      socket.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    interrupt = (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    conn.connect((err?: unknown) => {
      signal?.removeEventListener('abort', onAbort);
      interrupt = undefined;
      if (err) {
        socket.destroy();
        reject(failure(err, 'setup'));
        return;
      }
      resolve();
    });
  });
  usable = true;
  const tls = conn.secure ? tlsInfoOf(conn._socket) : undefined;
  const certificate = conn.secure ? certificateOf(conn._socket, target.host) : undefined;
  const dsn = conn.offersDsn;
  const pipelined = conn.pipelined;

  const setIdleTimeout = (ms: number): void => {
    const current = conn._socket;
    if (current) current.setTimeout(ms);
  };
  // The message goes out only after DATA was accepted: from then on the data timeout
  // applies instead of the command timeout.
  conn.onData = () => {
    phase = 'data';
    setIdleTimeout(options.dataTimeoutMs);
  };

  /** Runs one nodemailer operation, settling once even if the connection fails under it. */
  function operation<T>(
    start: (done: (err: unknown, value?: T) => void) => void,
    signal?: AbortSignal,
  ): Promise<T> {
    if (!usable) {
      return Promise.reject(
        failure(Object.assign(new Error('session is closed'), { code: 'ECONNECTION' }), 'envelope'),
      );
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (err: unknown, value?: T): void => {
        if (settled) return;
        settled = true;
        interrupt = undefined;
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onAbort = (): void => {
        settle(signal?.reason ?? new Error('aborted'));
        session.destroy();
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      interrupt = (err) => settle(err);
      start((err, value) => settle(err ? failure(err, phase) : undefined, value));
    });
  }

  const session: SmtpSession = {
    target,
    tls,
    certificate,
    dsn,
    pipelined,
    get usable() {
      return usable;
    },
    closed,
    async send(envelope, message, sendSignal) {
      phase = 'envelope';
      const ret = envelope.dsn?.ret;
      const envid = envelope.dsn?.envid;
      conn.rcptDsn = envelope.rcptDsn
        ? new Map(envelope.rcptDsn.map((r) => [r.rcpt, r]))
        : NO_RCPT_DSN;
      try {
        const info = await operation<SMTPConnection.SentMessageInfo>(
          (done) =>
            conn.send(
              {
                from: envelope.from,
                to: envelope.to,
                size: message.byteLength,
                use8BitMime: !isAscii(message),
                // nodemailer adds RET and ENVID to MAIL FROM only when the server offers DSN.
                ...(ret || envid
                  ? { dsn: { ...(ret ? { ret } : {}), ...(envid ? { envid } : {}) } }
                  : {}),
              },
              message,
              (err, info) => done(err ? withRefusals(err, conn.refusedRecipients) : null, info),
            ),
          sendSignal,
        );
        return {
          accepted: info.accepted,
          rejected: (info.rejectedErrors ?? []).map((e) => ({
            rcpt: (e as SmtpFailure).recipient ?? '',
            code: (e as SmtpFailure).responseCode ?? 550,
            response: (e as SmtpFailure).response ?? e.message,
          })),
          response: info.response,
        };
      } finally {
        phase = 'envelope';
        if (usable) setIdleTimeout(options.commandTimeoutMs);
      }
    },
    async reset() {
      await operation<boolean>((done) => conn.reset(done));
    },
    async close() {
      if (usable) {
        usable = false;
        quitting = true;
        conn.quit();
        const timer = setTimeout(() => socket.destroy(), options.commandTimeoutMs);
        await closed;
        clearTimeout(timer);
        return;
      }
      socket.destroy();
      await closed;
    },
    destroy() {
      usable = false;
      conn.close();
      socket.destroy();
    },
  };
  return session;
}
