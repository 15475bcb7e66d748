/**
 * smtp-server with a few changes:
 *
 * - A reply whose text already starts with an enhanced status code (every reply in
 *   smtp-errors.ts, and "2.0.0 Ok: queued as …") is sent as written. With
 *   ENHANCEDSTATUSCODES advertised, smtp-server otherwise prefixes its own code chosen from
 *   the reply code alone, so "554 5.7.1 Relay access denied" would go out as
 *   "554 5.6.0 5.7.1 Relay access denied".
 * - The EHLO/HELO name is put to the ingress before smtp-server takes it (smtp-server has
 *   no hook for it), so that a name the relay will not write into a trace field is refused.
 * - MAIL FROM and RCPT TO lines are put to the ingress before smtp-server parses them, so
 *   that a parameter value it would refuse as a bad address is refused naming the
 *   parameter.
 * - NOOP is not activity: a session whose only commands for the idle timeout were NOOPs
 *   is ended at its next NOOP instead of being kept until the total session time limit.
 * - The pause before the greeting is the ingress's choice per connection. smtp-server
 *   always waits 100 ms to catch clients that talk before the greeting (spam bots), with
 *   no option; for an application that opens a connection per message, that pause alone
 *   caps 20 sessions near 180 messages a second. So trusted clients are greeted at once,
 *   and the early-talker pause stays where it serves (greeting.ts).
 * - QUIT hangs up once the 221 has left, as Postfix does. smtp-server ends its side and
 *   then keeps the connection, reading and dropping what comes, until the client closes
 *   its own (or 5 s pass); for a client that opens a connection per message that is a
 *   shutdown, a read and, from clients that reset rather than close, an error built with
 *   its stack, all per message (quitHangsUp).
 * - A connection is named by a counter instead of 10 random bytes: smtp-server draws them
 *   (a system call and a BigInt per connection) only to label its own log lines, which
 *   the relay turns off. Connections that must send a PROXY header are left to smtp-server.
 *
 * smtp-server is pinned to an exact version; `checkSmtpServerHooks` refuses to start on
 * one whose internals these overrides lean on have changed.
 *
 * The subclass also gives every session its state (session-state.ts), which holds the
 * connection behind it, so the ingress can answer 421 to sessions it ends itself.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { HikyakuError } from '@hikyaku/core';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { attachState } from './session-state.ts';

const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

/** A reply the ingress decided: code and text with its enhanced status code. */
export interface Refusal {
  responseCode: number;
  message: string;
}

/** What the ingress decides at steps smtp-server offers no handler for. */
export interface ConnectionHooks {
  /** The refusal of an EHLO/HELO name, or undefined to let smtp-server go on. */
  onHelo(name: string, session: SMTPServerSession): Refusal | undefined;
  /** The refusal of a MAIL FROM or RCPT TO line, or undefined to let smtp-server go on. */
  onAddressCommand(line: string, session: SMTPServerSession): Refusal | undefined;
  /** The reply that ends a session kept open by NOOPs alone (a 421). */
  onNoopIdle(session: SMTPServerSession): Refusal;
  /**
   * How long to wait before greeting the client of a session just opened from this address
   * (0: greet at once). Called before onConnect, whose session it is.
   */
  greetingPauseMs(session: SMTPServerSession, remoteAddress: string): number;
}

/** The smtp-server internals the connection overrides rely on, checked at start-up. */
const SMTP_SERVER_HOOKS = [
  'init',
  'close',
  'connectionReady',
  '_setListeners',
  'send',
  'handler_QUIT',
] as const;

/** What smtp-server's close() does that QUIT does itself before destroying the socket. */
const CLOSE_STEPS = [
  'this._server.connections.delete(this)',
  'this._closing = true',
  'this._parser.isClosed = true',
];

/** What the server's `_handleProxy`, replaced for connections without a PROXY header, must do. */
const HANDLE_PROXY_STEPS = ['randomBytes', '_expectsProxyHeader', 'ignoredHosts', 'setImmediate'];

export class SmtpServerHookMissingError extends HikyakuError {
  constructor(hook: string) {
    super(
      'HIKYAKU_SMTP_SERVER_HOOK_MISSING',
      `smtp-server no longer has ${hook} as the ingress expects; check relay-server.ts against this smtp-server version`,
    );
    this.name = 'SmtpServerHookMissingError';
  }
}

/**
 * The ingress's start-up self-check of the smtp-server internals RelayConnection replaces.
 * `init` is replaced whole, so it must still be the one that only sets the listeners,
 * checks maxClients and greets after a timer: a new step in it would be skipped silently.
 */
export function checkSmtpServerHooks(): void {
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;
  for (const hook of SMTP_SERVER_HOOKS) {
    if (typeof proto[hook] !== 'function') throw new SmtpServerHookMissingError(hook);
  }
  const init = String(proto.init).replace(/\/\/.*$/gm, '');
  const calls = [...init.matchAll(/(?:this\.|\b)([A-Za-z_]+)\(/g)].map((m) => m[1]);
  const expected = ['init', '_setListeners', 'send', 'setTimeout', 'connectionReady', 'unref'];
  if (calls.join(',') !== expected.join(',')) {
    throw new SmtpServerHookMissingError(`the init() it replaces (calls: ${calls.join(', ')})`);
  }
  // handler_QUIT is replaced whole, keeping of close() the steps a destroyed socket needs.
  const quit = String(proto.handler_QUIT).replace(/\/\/.*$/gm, '');
  const quitCalls = [...quit.matchAll(/(?:this\.|\b)([A-Za-z_]+)\(/g)].map((m) => m[1]);
  if (quitCalls.join(',') !== 'handler_QUIT,send,close,callback' || !/send\(221\b/.test(quit)) {
    throw new SmtpServerHookMissingError('the handler_QUIT() that answers 221 and closes');
  }
  const close = String(proto.close);
  if (CLOSE_STEPS.some((step) => !close.includes(step))) {
    throw new SmtpServerHookMissingError('the close() whose steps QUIT takes');
  }
  const server = SMTPServer.prototype as unknown as Record<string, unknown>;
  const handleProxy = String(server._handleProxy);
  if (
    typeof server._expectsProxyHeader !== 'function' ||
    HANDLE_PROXY_STEPS.some((step) => !handleProxy.includes(step))
  ) {
    throw new SmtpServerHookMissingError('the _handleProxy() that names connections');
  }
}

/**
 * Whether the reply to QUIT has surely left: written in full to a plain socket. A TLS
 * socket may still hold it in a record, so it keeps smtp-server's way of closing.
 */
export function quitHangsUp(socket: Socket | TLSSocket): boolean {
  return !(socket instanceof TLSSocket) && socket.writableLength === 0 && !socket.destroyed;
}

class RelayConnection extends SMTPConnection implements SessionHandle {
  /** When the session last did something other than NOOP: a reply to anything else. */
  private lastActivity = Date.now();
  private answeringNoop = false;

  constructor(
    server: SMTPServer,
    socket: Socket | TLSSocket,
    options: SMTPConnectionOptions | null | undefined,
    private readonly hooks: ConnectionHooks,
    private readonly idleMs: number,
  ) {
    super(server, socket, options);
  }

  /** smtp-server's init() with the greeting pause chosen per client instead of 100 ms. */
  override init(): void {
    const pauseMs = this.hooks.greetingPauseMs(this.session, this.remoteAddress);
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      if (pauseMs <= 0) {
        this.connectionReady();
        return;
      }
      // Commands sent before the greeting are answered 421 "You talk too soon".
      setTimeout(() => this.connectionReady(), pauseMs).unref();
    });
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    // Every reply but the one to NOOP answers progress: a command, or the end of the data.
    if (!this.answeringNoop) this.lastActivity = Date.now();
    const own = typeof data === 'string' && ENHANCED_CODE.test(data);
    super.send(code, data, own ? false : context);
  }

  override handler_EHLO(command: Buffer, callback: () => void): void {
    if (!this.refuseHelo(command, callback)) super.handler_EHLO(command, callback);
  }

  override handler_HELO(command: Buffer, callback: () => void): void {
    if (!this.refuseHelo(command, callback)) super.handler_HELO(command, callback);
  }

  override handler_MAIL(command: Buffer, callback: () => void): void {
    if (!this.refuseAddressCommand(command, callback)) super.handler_MAIL(command, callback);
  }

  override handler_RCPT(command: Buffer, callback: () => void): void {
    if (!this.refuseAddressCommand(command, callback)) super.handler_RCPT(command, callback);
  }

  /**
   * The 221, then the socket goes: closing it after the reply gives the client the reply
   * and an orderly end. Of smtp-server's close() only what a socket destroyed at once
   * needs is kept (the session leaves the server's connections, the parser takes no more
   * commands); its half-close (end, the reads drained, a timer for the client's own close)
   * would be undone by the destroy. smtp-server forgets the session on the socket's close
   * event as for any connection. A client that sends more after QUIT, which RFC 5321 does
   * not allow, may get a reset.
   */
  override handler_QUIT(_command: Buffer, callback: () => void): void {
    this.send(221, 'Bye');
    if (quitHangsUp(this._socket)) {
      this._server.connections.delete(this);
      this._closing = true;
      if (this._parser) this._parser.isClosed = true;
      this._socket.destroy();
    } else {
      this.close();
    }
    callback();
  }

  override handler_NOOP(command: Buffer, callback: () => void): void {
    if (Date.now() - this.lastActivity >= this.idleMs) {
      const reply = this.hooks.onNoopIdle(this.session);
      // A 421 closes the connection.
      this.send(reply.responseCode, reply.message);
      callback();
      return;
    }
    this.answeringNoop = true;
    try {
      super.handler_NOOP(command, callback);
    } finally {
      this.answeringNoop = false;
    }
  }

  /** True when the command was refused (and the reply sent). */
  private refuseAddressCommand(command: Buffer, callback: () => void): boolean {
    const refusal = this.hooks.onAddressCommand(command.toString(), this.session);
    if (!refusal) return false;
    this.send(refusal.responseCode, refusal.message);
    callback();
    return true;
  }

  /** True when the name was refused (and the reply sent). */
  private refuseHelo(command: Buffer, callback: () => void): boolean {
    const parts = command.toString().trim().split(/\s+/);
    // smtp-server answers a missing or extra argument itself.
    if (parts.length !== 2) return false;
    const refusal = this.hooks.onHelo(parts[1] ?? '', this.session);
    if (!refusal) return false;
    this.send(refusal.responseCode, refusal.message);
    callback();
    return true;
  }
}

/** What the ingress may do with a client's connection. */
export interface SessionHandle {
  /** Sends a reply line; a 421 also closes the connection. */
  send(code: number, text: string): void;
  close(): void;
}

type ProxyCallback = Parameters<SMTPServer['_handleProxy']>[1];

export class RelaySmtpServer extends SMTPServer {
  private readonly hooks: ConnectionHooks;
  /** Connection names: a prefix drawn once per server, then a count, 16 characters. */
  private readonly idPrefix = BigInt(`0x${randomBytes(5).toString('hex')}`)
    .toString(32)
    .padStart(8, '0');
  private connectionCount = 0;
  /** The server's listeners on every connection, made once rather than per connection. */
  private readonly connectionError = (err: Error) => this._onError(err);
  private readonly clientConnected = (data: Parameters<SMTPServer['_onClientConnect']>[0]) =>
    this._onClientConnect(data);

  constructor(options: SMTPServerOptions & ConnectionHooks) {
    super(options);
    this.hooks = {
      onHelo: options.onHelo,
      onAddressCommand: options.onAddressCommand,
      onNoopIdle: options.onNoopIdle,
      greetingPauseMs: options.greetingPauseMs,
    };
  }

  override connect(socket: Socket | TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const idleMs = this.options.socketTimeout ?? 60_000;
    const connection = new RelayConnection(this, socket, socketOptions, this.hooks, idleMs);
    this.connections.add(connection);
    // The connection is the session's handle: its send and close are the handle's.
    attachState(connection.session, connection);
    connection.on('error', this.connectionError);
    connection.on('connect', this.clientConnected);
    connection.init();
  }

  override _handleProxy(socket: Socket, callback: ProxyCallback): void {
    if (this._expectsProxyHeader(socket)) {
      super._handleProxy(socket, callback);
      return;
    }
    this.connectionCount = (this.connectionCount + 1) % 2 ** 40;
    const id = this.idPrefix + this.connectionCount.toString(32).padStart(8, '0');
    const ignore = Boolean(this.options.ignoredHosts?.includes(socket.remoteAddress ?? ''));
    setImmediate(() => callback(null, { id, ignore }));
  }
}
