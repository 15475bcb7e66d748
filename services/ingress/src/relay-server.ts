/**
 * smtp-server with one change: a reply whose text already starts with an enhanced status
 * code (every reply in smtp-errors.ts, and "2.0.0 Ok: queued as …") is sent as written.
 * With ENHANCEDSTATUSCODES advertised, smtp-server otherwise prefixes its own code chosen
 * from the reply code alone, so "554 5.7.1 Relay access denied" would go out as
 * "554 5.6.0 5.7.1 Relay access denied". The subclass also gives the ingress the
 * connection behind a session, to answer 421 to sessions it ends itself.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

class RelayConnection extends SMTPConnection {
  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    const own = typeof data === 'string' && ENHANCED_CODE.test(data);
    super.send(code, data, own ? false : context);
  }
}

/** What the ingress may do with a client's connection. */
export interface SessionHandle {
  /** Sends a reply line; a 421 also closes the connection. */
  send(code: number, text: string): void;
  close(): void;
}

export class RelaySmtpServer extends SMTPServer {
  private readonly handles = new WeakMap<SMTPServerSession, SessionHandle>();

  constructor(options: SMTPServerOptions) {
    super(options);
  }

  override connect(socket: Socket | TLSSocket, socketOptions?: object | null): void {
    const connection = new RelayConnection(this, socket, socketOptions);
    this.connections.add(connection);
    this.handles.set(connection.session, {
      send: (code, text) => connection.send(code, text),
      close: () => connection.close(),
    });
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }

  handleOf(session: SMTPServerSession): SessionHandle | undefined {
    return this.handles.get(session);
  }
}
