/**
 * Handing an accepted message to JetStream: the body first, then the envelope, each
 * acknowledged by the server within a deadline. From wire version 2 on, a body stored inline
 * carries its envelope in a header of its own message, so one write stores both (the
 * scheduler reads envelopes from the bodies stream too); before it, and for bodies in the
 * object store, the envelope is a message of the envelopes stream of its own. Only when
 * everything is acknowledged may the client be told 250; any failure or timeout becomes
 * 451 4.3.0 and the client retries (a late acknowledgement then means a duplicate, never a
 * loss). JetStream out of space is told apart (452 4.3.1), and for a while after it new
 * transactions are refused at MAIL FROM, so clients do not send data that cannot be stored.
 */
import {
  type BodyRef,
  type BodyStore,
  codecs,
  type Envelope,
  HikyakuError,
  MSG_IDS,
  type NatsHandles,
  StoreUnavailableError,
  SUBJECTS,
  type WireVersion,
  withTimeout,
} from '@hikyaku/core';

/** JetStream refused to store a message for want of space. */
export class StoreFullError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_STORE_FULL', message, options);
    this.name = 'StoreFullError';
  }
}

/**
 * JetStream's refusals for want of space: `insufficient resources` (10023, its storage
 * limit reached) and `insufficient storage resources available` (10047). The object store
 * of large bodies wraps the server's error, so the causes are followed too.
 */
const OUT_OF_SPACE_CODES = new Set([10023, 10047]);
const OUT_OF_SPACE_TEXT = /insufficient (?:storage )?resources/i;

export function isOutOfSpace(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number' && OUT_OF_SPACE_CODES.has(code)) return true;
    if (OUT_OF_SPACE_TEXT.test(e.message)) return true;
    e = e.cause;
  }
  return false;
}

/**
 * How long after JetStream said it is out of space new transactions are refused at
 * MAIL FROM. Short, since nothing else tells when space is back: the first message after
 * it is tried again, and its refusal starts the next hold.
 */
export const STORE_FULL_HOLD_MS = 5000;

/** Whether JetStream was out of space a moment ago: set by a refusal, cleared by a store. */
export function createFullHold(options: { holdMs: number; now: () => number }) {
  let refusedAt: number | undefined;
  return {
    refused(): void {
      refusedAt = options.now();
    },
    stored(): void {
      refusedAt = undefined;
    },
    active(): boolean {
      return refusedAt !== undefined && options.now() - refusedAt < options.holdMs;
    },
  };
}

export interface MessageStore {
  /** False while NATS is disconnected: answer 451 at once instead of waiting. */
  available(): boolean;
  /** True for a while after JetStream refused a message for want of space (452 4.3.1). */
  full(): boolean;
  /**
   * Stores body and envelope. `onBodySettled` is called once the body's write has ended,
   * however it ended: after a timeout it may still run, and it holds the body till then.
   */
  store(
    envelope: Omit<Envelope, 'v' | 'body'>,
    body: Buffer,
    onBodySettled?: () => void,
  ): Promise<void>;
  stop(): void;
}

function notAcknowledged(what: string, ms: number): StoreUnavailableError {
  return new StoreUnavailableError(`${what} not acknowledged within ${ms} ms`);
}

export function createMessageStore(deps: {
  nats: NatsHandles;
  bodies: BodyStore;
  timeoutMs: number;
  /** From 2 on, an inline body and its envelope are stored as one message. */
  wireVersion: WireVersion;
  now?: () => number;
}): MessageStore {
  const { nats, bodies, timeoutMs } = deps;
  const oneWrite = deps.wireVersion >= 2;
  const hold = createFullHold({ holdMs: STORE_FULL_HOLD_MS, now: deps.now ?? Date.now });
  let connected = !nats.nc.isClosed();
  let stopped = false;
  (async () => {
    for await (const status of nats.nc.status()) {
      if (stopped) break;
      if (status.type === 'disconnect') connected = false;
      if (status.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);

  return {
    available: () => connected && !nats.nc.isClosed(),
    full: () => hold.active(),

    async store(envelope, body, onBodySettled = () => undefined) {
      try {
        // Undefined once body and envelope are stored together; else the body's ref.
        const put = (async (): Promise<BodyRef | undefined> => {
          if (oneWrite && (await bodies.putWithEnvelope({ v: 1, ...envelope }, body)))
            return undefined;
          return bodies.put(envelope.id, body);
        })();
        put.then(onBodySettled, onBodySettled);
        const ref = await withTimeout(put, timeoutMs, () =>
          notAcknowledged('message body', timeoutMs),
        );
        if (!ref) {
          hold.stored();
          return;
        }
        const full: Envelope = { v: 1, ...envelope, body: ref };
        await withTimeout(
          nats.js.publish(SUBJECTS.envelope(envelope.pool), codecs.envelope.encode(full), {
            msgID: MSG_IDS.envelope(envelope.id),
          }),
          timeoutMs,
          () => notAcknowledged('envelope', timeoutMs),
        );
        hold.stored();
      } catch (err) {
        if (isOutOfSpace(err)) {
          hold.refused();
          throw new StoreFullError(`JetStream is out of space for message ${envelope.id}`, {
            cause: err,
          });
        }
        if (err instanceof StoreUnavailableError) throw err;
        throw new StoreUnavailableError(`JetStream did not store message ${envelope.id}`, {
          cause: err,
        });
      }
    },

    stop() {
      stopped = true;
    },
  };
}
