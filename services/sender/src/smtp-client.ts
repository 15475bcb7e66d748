/**
 * nodemailer's SMTPConnection as the sender's sessions use it, with three of its internals
 * overridden: the parameters of each RCPT TO (each recipient's own DSN parameters), how
 * the message data is written, and (when pipelining is turned off) the extensions read from
 * the EHLO reply. nodemailer is pinned to an exact version and the overridden internals,
 * and the envelope phase whose pipelining the sender relies on, are checked when the
 * sender starts (`checkSmtpClientHooks`).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { RecipientDsn } from '@hikyaku/core';
import { encodeOrcpt } from '@hikyaku/core/policy';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SmtpClientHookMissingError } from './errors.ts';
import { dataOnWire } from './smtp-data.ts';

/** The parts of nodemailer's SMTPConnection that SenderSmtpConnection reads or calls. */
interface ConnectionInternals {
  _supportedExtensions?: string[];
  _parseEhloExtensions(reply: string): void;
  _recipientQueue?: string[];
  _socket: Socket | TLSSocket;
  _responseActions: Array<(reply: string) => void>;
  _actionSMTPStream(reply: string, callback: SendCallback): void;
  _envelope?: { rejectedErrors?: Error[] };
}

type SendCallback = (err: Error | null, reply?: string) => void;

/** What nodemailer's send() does with the stream _createSendStream returns, for a Buffer. */
interface DataSink {
  outByteCount: number;
  write(message: Buffer): boolean;
  end(): void;
}

/**
 * The calls, in order, of the nodemailer methods the data transfer relies on, in the
 * version it was written for: send() hands a Buffer message to the stream
 * _createSendStream returns (write, then end) and reads its outByteCount afterwards;
 * _createSendStream is replaced whole, so a new step in it would be skipped silently.
 */
const EXPECTED_CALLS = {
  send: [
    'send',
    'done',
    'callback',
    '_formatError',
    '_isDestroyedMessage',
    'callback',
    '_formatError',
    'setImmediate',
    'callback',
    '_formatError',
    'callback',
    '_formatError',
    'on',
    'now',
    '_setEnvelope',
    'destroy',
    'callback',
    'now',
    '_createSendStream',
    'callback',
    'now',
    'parseServerMessageId',
    'callback',
    'pipe',
    'write',
    'end',
  ],
  _createSendStream: [
    '_createSendStream',
    'DataStream',
    'forEach',
    'push',
    '_actionLMTPStream',
    'push',
    '_actionSMTPStream',
    'pipe',
    'PassThrough',
    'on',
    'read',
    'debug',
    'toString',
    'replace',
    'pipe',
    'once',
    'info',
  ],
  // The envelope phase (RFC 2920): with PIPELINING in the EHLO reply, MAIL FROM, every
  // RCPT TO and DATA are written corked and the replies read in order, DATA's reply
  // deciding the envelope; without it, one command per reply. The sender does not replace
  // these but relies on them, on _getDsnRcptToArgs being called per recipient, and on the
  // off switch below (PIPELINING dropped from _supportedExtensions) being what they read.
  _setEnvelope: [
    '_setEnvelope',
    'toString',
    'trim',
    'concat',
    'map',
    'toString',
    'trim',
    'callback',
    '_formatError',
    'test',
    'callback',
    '_formatError',
    'stringify',
    'test',
    'test',
    'callback',
    '_formatError',
    'stringify',
    'test',
    'concat',
    '_setDsnEnvelope',
    'callback',
    '_formatError',
    'callback',
    '_formatError',
    'includes',
    'callback',
    '_formatError',
    'includes',
    'push',
    '_actionMAIL',
    'includes',
    'push',
    'includes',
    'push',
    'includes',
    'Number',
    'push',
    'includes',
    'push',
    'encodeXText',
    'push',
    'encodeXText',
    'push',
    'join',
    '_sendCommand',
    'cork',
    '_sendCommand',
    '_sendRcpt',
    'shift',
    'push',
    '_actionDATA',
    '_sendCommand',
    'uncork',
  ],
  _advanceEnvelope: [
    '_advanceEnvelope',
    'callback',
    '_sendRcpt',
    'shift',
    '_envelopeError',
    'callback',
    'push',
    '_actionDATA',
    '_sendCommand',
  ],
  _actionDATA: [
    '_actionDATA',
    '_envelopeError',
    'test',
    'close',
    'callback',
    'push',
    'callback',
    '_sendCommand',
    'callback',
    'test',
    'callback',
    '_formatError',
    'callback',
  ],
} as const;

/** How _setEnvelope decides to pipeline: what turning pipelining off acts on. */
const PIPELINING_TEST = "this._supportedExtensions.includes('PIPELINING')";
/** Where _setEnvelope keeps the transaction's refused recipients: what `refusedRecipients` reads. */
const REFUSALS_KEPT = 'this._envelope.rejectedErrors = []';

function callsOf(fn: unknown): string[] {
  const body = String(fn).replace(/\/\/.*$/gm, '');
  return [...body.matchAll(/(?:this\.|\b)([A-Za-z_]+)\(/g)].map((m) => m[1] as string);
}

/**
 * The sender's start-up self-check of the nodemailer internals SenderSmtpConnection overrides
 * or calls. nodemailer is pinned to an exact version; an upgrade that renamed or changed
 * them would silently stop passing each recipient's NOTIFY and ORCPT on, or send the
 * message data another way than the library now does, so the sender refuses to start.
 */
export function checkSmtpClientHooks(): void {
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;
  const hooks = [
    '_getDsnRcptToArgs',
    '_actionSMTPStream',
    'send',
    '_createSendStream',
    '_parseEhloExtensions',
    '_setEnvelope',
    '_advanceEnvelope',
    '_actionDATA',
    '_sendRcpt',
  ];
  for (const hook of hooks) {
    if (typeof proto[hook] !== 'function') throw new SmtpClientHookMissingError(hook);
  }
  if (!String(proto._setEnvelope).includes(PIPELINING_TEST)) {
    throw new SmtpClientHookMissingError(`the _setEnvelope() that pipelines on ${PIPELINING_TEST}`);
  }
  if (!String(proto._setEnvelope).includes(REFUSALS_KEPT)) {
    throw new SmtpClientHookMissingError(`the _setEnvelope() that sets ${REFUSALS_KEPT}`);
  }
  for (const [name, expected] of Object.entries(EXPECTED_CALLS)) {
    const calls = callsOf(proto[name]);
    if (calls.join(',') !== expected.join(',')) {
      throw new SmtpClientHookMissingError(
        `the ${name}() it relies on (calls: ${calls.join(', ')})`,
      );
    }
  }
}

/**
 * nodemailer's SMTPConnection with DSN parameters per recipient. nodemailer takes NOTIFY
 * and ORCPT once per envelope and repeats them on every RCPT TO, but RFC 3461 gives each
 * recipient its own, and a relay passes each one on as it came (§6.2.1). Splitting the
 * recipients into one transaction per set of parameters would turn one queue item into
 * several messages at the receiver, which counts (and rate-limits) messages, and an
 * upstream MTA that sends an ORCPT with every recipient would get one transaction per
 * recipient. So nodemailer's hook that builds a RCPT TO's parameters, called right after
 * the recipient is put at the end of its recipient queue, answers with that recipient's
 * own. nodemailer is pinned to an exact version; test/sender/dsn.test.ts checks what a
 * receiver records.
 *
 * The message data goes out without nodemailer's DataStream, which turns the message into
 * wire form byte by byte in JavaScript and writes the end-of-data line apart from it:
 * `dataOnWire` makes the same bytes, and both pieces leave in one socket write
 * (test/sender/data-transfer.test.ts compares what a receiver gets from both).
 *
 * nodemailer pipelines the envelope (RFC 2920) whenever the EHLO reply lists PIPELINING.
 * A receiver that breaks under pipelining is served by `pipelining = false`: PIPELINING is
 * then left out of the extensions read from the EHLO reply, and every command waits for
 * the reply to the one before (test/sender/pipelining.test.ts).
 */
export class SenderSmtpConnection extends SMTPConnection {
  /** The recipients' parameters of the transaction in progress, by address. */
  rcptDsn: ReadonlyMap<string, RecipientDsn> = new Map();
  /** Called when DATA was accepted and the message starts to go out. */
  onData: (() => void) | undefined;
  /** Pipeline the envelope when the server offers it; set before connect(). */
  pipelining = true;

  /** Whether the transactions of this connection are pipelined. */
  get pipelined(): boolean {
    const self = this as unknown as ConnectionInternals;
    return self._supportedExtensions?.includes('PIPELINING') === true;
  }

  _parseEhloExtensions(reply: string): void {
    const self = this as unknown as ConnectionInternals;
    (SMTPConnection.prototype as unknown as ConnectionInternals)._parseEhloExtensions.call(
      this,
      reply,
    );
    if (!this.pipelining && self._supportedExtensions) {
      self._supportedExtensions = self._supportedExtensions.filter((e) => e !== 'PIPELINING');
    }
  }

  /**
   * The recipients the server refused at RCPT TO in the transaction in progress or just
   * ended, each with its own reply. nodemailer puts them on a successful send's result, but
   * not on the error of a refused DATA or a refused message, where each of them must still
   * keep its own reply (a 4xx-refused recipient is retried even if the message got a 5xx).
   */
  get refusedRecipients(): readonly Error[] {
    return (this as unknown as ConnectionInternals)._envelope?.rejectedErrors ?? [];
  }

  /** Whether the server's EHLO reply (the one after STARTTLS, if any) lists DSN. */
  get offersDsn(): boolean {
    return (this as unknown as ConnectionInternals)._supportedExtensions?.includes('DSN') === true;
  }

  _getDsnRcptToArgs(): string {
    if (!this.offersDsn) return '';
    const rcpt = (this as unknown as ConnectionInternals)._recipientQueue?.at(-1);
    const own = rcpt === undefined ? undefined : this.rcptDsn.get(rcpt);
    const args: string[] = [];
    if (own?.notify) args.push(`NOTIFY=${own.notify.join(',')}`);
    if (own?.orcpt) args.push(`ORCPT=${encodeOrcpt(own.orcpt)}`);
    return args.length > 0 ? ` ${args.join(' ')}` : '';
  }

  /**
   * Called by send() once DATA was accepted; send() then writes the message (a Buffer,
   * never a stream here) and ends it. The reply to the final dot goes to the same handler
   * as nodemailer's own stream's (no LMTP: the sender speaks SMTP only).
   */
  _createSendStream(callback: SendCallback): DataSink {
    const self = this as unknown as ConnectionInternals;
    self._responseActions.push((reply) => self._actionSMTPStream(reply, callback));
    this.onData?.();
    const socket = self._socket;
    const sink: DataSink = {
      outByteCount: 0,
      write(message) {
        const [body, end] = dataOnWire(message);
        sink.outByteCount = body.length + end.length;
        socket.cork();
        socket.write(body);
        const flushed = socket.write(end);
        socket.uncork();
        return flushed;
      },
      end() {},
    };
    return sink;
  }
}
