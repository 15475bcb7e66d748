/**
 * @nats-io/nats-core 3.4 writes its outbound buffer to the socket at the end of the
 * microtask burst in which the first command was queued (`ProtocolHandler.sendCommand`
 * schedules `flushPending` with `queueMicrotask`). A stage handling one message at a time
 * queues its publishes, acks and pull requests in different bursts of one event-loop turn
 * (each `await` ends a burst), so at a low offered rate each of them was a write system
 * call of its own, and a wake-up of nats-server each.
 *
 * `writeOncePerTurn` schedules that flush with `setImmediate` instead: everything queued
 * during one turn of the event loop — the I/O callbacks of its poll phase and the microtasks
 * they run — leaves in one write, after them. The order of the commands on the wire does not
 * change (one buffer, drained in order), only how many writes carry them; the client's own
 * inline flush of a full buffer (`pendingLimit`) stays. `close` writes what is queued before
 * the library closes the socket (the library closes it at once, and would drop a command
 * queued in the same turn); `drain` already ends with a flush of its own.
 *
 * The client is pinned to an exact version; the replacement is installed only over the
 * `sendCommand` and `close` it was written against, and the services refuse to start with
 * `HIKYAKU_NATS_CLIENT_HOOK_MISSING` on a version where they changed.
 */
import { ProtocolHandler } from '@nats-io/nats-core/internal';
import { NatsClientHookMissingError } from './nats-request.ts';

/** The calls, in order, the methods replaced here made in the version they were written for. */
const EXPECTED_CALLS = {
  sendCommand: ['length', 'fill', 'queueMicrotask', 'flushPending', 'size', 'flushPending'],
  flushPending: ['size', 'drain', 'send'],
} as const;

const TEXT = new TextEncoder();
const ORIGINAL_SEND = Symbol.for('hikyaku.natsSendCommand');
const ORIGINAL_CLOSE = Symbol.for('hikyaku.natsClose');

interface ProtocolInternals {
  outbound: { length(): number; size(): number; fill(buf: Uint8Array, ...rest: unknown[]): void };
  pendingLimit: number;
  flushPending(): void;
}

type SendCommand = (this: ProtocolInternals, cmd: string | Uint8Array, ...rest: unknown[]) => void;
type Close = (this: ProtocolInternals, err?: Error) => Promise<void>;

interface ProtocolPrototype {
  sendCommand: SendCommand;
  close: Close;
  flushPending: () => void;
  [ORIGINAL_SEND]?: SendCommand;
  [ORIGINAL_CLOSE]?: Close;
}

function callsOf(fn: unknown, name: string): string[] {
  const body = String(fn).replace(/\/\/.*$/gm, '');
  return [...body.matchAll(/\.?([A-Za-z_]+)\(/g)]
    .map((m) => m[1] as string)
    .filter((call, i) => !(i === 0 && call === name));
}

/** Throws NatsClientHookMissingError when the protocol internals are not the expected ones. */
export function checkNatsWriteHooks(): void {
  const proto = ProtocolHandler.prototype as unknown as ProtocolPrototype;
  const methods = {
    sendCommand: proto[ORIGINAL_SEND] ?? proto.sendCommand,
    flushPending: proto.flushPending,
  };
  for (const name of ['sendCommand', 'flushPending'] as const) {
    const fn = methods[name];
    if (typeof fn !== 'function') throw new NatsClientHookMissingError(`ProtocolHandler.${name}`);
    const calls = callsOf(fn, name);
    if (calls.join(',') !== EXPECTED_CALLS[name].join(',')) {
      throw new NatsClientHookMissingError(`ProtocolHandler.${name} (calls: ${calls.join(', ')})`);
    }
  }
  if (typeof (proto[ORIGINAL_CLOSE] ?? proto.close) !== 'function') {
    throw new NatsClientHookMissingError('ProtocolHandler.close');
  }
}

/** Installs the once-per-turn write once per process; later calls do nothing. */
export function writeOncePerTurn(): void {
  checkNatsWriteHooks();
  const proto = ProtocolHandler.prototype as unknown as ProtocolPrototype;
  if (proto[ORIGINAL_SEND]) return;
  const close = proto.close;
  proto[ORIGINAL_SEND] = proto.sendCommand;
  proto[ORIGINAL_CLOSE] = close;
  proto.sendCommand = function sendCommand(cmd, ...payloads) {
    const queued = this.outbound.length();
    this.outbound.fill(typeof cmd === 'string' ? TEXT.encode(cmd) : cmd, ...payloads);
    if (queued === 0) setImmediate(() => this.flushPending());
    else if (this.outbound.size() >= this.pendingLimit) this.flushPending();
  };
  proto.close = function closeAfterWriting(err) {
    this.flushPending();
    return close.call(this, err);
  };
}
