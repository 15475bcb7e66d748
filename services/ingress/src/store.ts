/**
 * Handing an accepted message to JetStream: the body first, then the envelope, each
 * acknowledged by the server within a deadline. Only when both are acknowledged may the
 * client be told 250; any failure or timeout becomes 451 4.3.0 and the client retries (a
 * late acknowledgement then means a duplicate, never a loss).
 */
import {
  type BodyStore,
  codecs,
  type Envelope,
  MSG_IDS,
  type NatsHandles,
  StoreUnavailableError,
  SUBJECTS,
  withTimeout,
} from '@hikyaku/core';

export interface MessageStore {
  /** False while NATS is disconnected: answer 451 at once instead of waiting. */
  available(): boolean;
  store(envelope: Omit<Envelope, 'v' | 'body'>, body: Buffer): Promise<void>;
  stop(): void;
}

function notAcknowledged(what: string, ms: number): StoreUnavailableError {
  return new StoreUnavailableError(`${what} not acknowledged within ${ms} ms`);
}

export function createMessageStore(deps: {
  nats: NatsHandles;
  bodies: BodyStore;
  timeoutMs: number;
}): MessageStore {
  const { nats, bodies, timeoutMs } = deps;
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

    async store(envelope, body) {
      try {
        const ref = await withTimeout(bodies.put(envelope.id, body), timeoutMs, () =>
          notAcknowledged('message body', timeoutMs),
        );
        const full: Envelope = { v: 1, ...envelope, body: ref };
        await withTimeout(
          nats.js.publish(SUBJECTS.envelope(envelope.pool), codecs.envelope.encode(full), {
            msgID: MSG_IDS.envelope(envelope.id),
          }),
          timeoutMs,
          () => notAcknowledged('envelope', timeoutMs),
        );
      } catch (err) {
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
