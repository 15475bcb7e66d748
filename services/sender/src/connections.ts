/**
 * SMTP sessions for the sender, pooled per (source IP, destination host, port) within the
 * job's rate policy limits. Opening a session binds to the source IP and EHLOs with its
 * hostname. When a STARTTLS handshake fails, the policy does not require TLS and
 * certificates are not verified, the host is tried once more in clear text, as an MTA with
 * opportunistic TLS does: a server whose TLS is broken still gets its mail.
 */
import { createConnectionPool, type Lease } from './connection-pool.ts';
import type { SendLimits } from './limits.ts';
import type { Target } from './routing/targets.ts';
import {
  openSession,
  type SessionOptions,
  type SessionTarget,
  type SmtpFailure,
  type SmtpSession,
} from './smtp-session.ts';

export interface SourceIp {
  address: string;
  hostname: string;
  /**
   * Bind connections to `address` (the default). Behind an egress gateway the address is
   * not on the pod: the connection leaves from the pod's own and the gateway translates it.
   */
  bind?: boolean;
}

export interface Connections {
  acquire(
    source: SourceIp,
    target: Target,
    limits: SendLimits,
    signal?: AbortSignal,
  ): Promise<Lease<SmtpSession>>;
  drain(reason: Error): void;
  close(reason: Error): Promise<void>;
}

export interface ConnectionsOptions {
  session: SessionOptions;
  idleMs: number;
  /** Called for every session opened; `session.closed` tells when it is gone. */
  onOpen?: (source: SourceIp, session: SmtpSession) => void;
}

function keyOf(source: string, target: Pick<Target, 'host' | 'port'>): string {
  return `${source}|${target.host}|${target.port}`;
}

function tlsHandshakeFailed(err: unknown): boolean {
  const f = err as Partial<SmtpFailure>;
  return f.phase === 'setup' && f.code === 'ETLS' && f.responseCode === undefined;
}

export function createConnections(options: ConnectionsOptions): Connections {
  const pool = createConnectionPool<SmtpSession>({ idleMs: options.idleMs });

  async function open(
    source: SourceIp,
    target: Target,
    limits: SendLimits,
    signal?: AbortSignal,
  ): Promise<SmtpSession> {
    const sessionTarget: SessionTarget = {
      ...(source.bind === false ? {} : { localAddress: source.address }),
      ehloName: source.hostname,
      host: target.host,
      address: target.address,
      port: target.port,
    };
    let session: SmtpSession;
    try {
      session = await openSession(sessionTarget, options.session, signal);
    } catch (err) {
      // Clear text is no fallback where TLS is required or certificates are to be verified.
      const plainAllowed = limits.tls !== 'required' && !options.session.tlsVerify;
      if (!plainAllowed || !tlsHandshakeFailed(err)) throw err;
      session = await openSession(sessionTarget, { ...options.session, ignoreTls: true }, signal);
    }
    options.onOpen?.(source, session);
    return session;
  }

  return {
    acquire(source, target, limits, signal) {
      return pool.acquire(
        keyOf(source.address, target),
        limits,
        () => open(source, target, limits, signal),
        signal,
      );
    },
    drain: (reason) => pool.drain(reason),
    close: (reason) => pool.close(reason),
  };
}
