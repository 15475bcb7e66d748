/**
 * Durable message bodies. A body that fits in one NATS message is published to the bodies
 * stream under its own subject (read back with one direct get); a larger one goes to the
 * object store, which chunks it. Either way the body is on disk before ingress says 250.
 * An inline body may carry its envelope in a header of the same message: body and envelope
 * are then stored in one write.
 */
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
} from '@nats-io/jetstream';
import { type ObjectStore, Objm, StorageType } from '@nats-io/obj';
import { Empty, headers, type NatsConnection, nanos } from '@nats-io/transport-node';
import {
  type BodyRef,
  ENVELOPE_HEADER,
  type Envelope,
  envelopeHeader,
} from './contract/messages.ts';
import { MSG_IDS, OBJECT_BUCKETS, STREAMS, SUBJECTS } from './contract/subjects.ts';
import { BodyMissingError } from './errors.ts';

/** The JetStream client's own default timeout for a request, when none is configured. */
const DIRECT_GET_TIMEOUT_MS = 5000;

/** Bodies up to this size are stored inline; NATS' default max_payload is 1 MiB. */
export const INLINE_BODY_LIMIT = 768 * 1024;

/**
 * The largest envelope header stored beside an inline body: with the body limit it keeps the
 * message well under max_payload. An envelope over it (thousands of recipients) goes to the
 * envelopes stream on its own.
 */
export const ENVELOPE_HEADER_LIMIT = 64 * 1024;

export interface BodyStore {
  put(messageId: string, body: Uint8Array): Promise<BodyRef>;
  /**
   * Stores an inline body with its envelope in a header of the same message (one write).
   * The ref returned holds the message's stream sequence; the envelope in the header does
   * not (see envelopeHeader). Undefined, with nothing stored, when body or envelope is too
   * large to share one message: store them apart.
   */
  putWithEnvelope(envelope: Omit<Envelope, 'body'>, body: Uint8Array): Promise<BodyRef | undefined>;
  get(messageId: string, ref: BodyRef): Promise<Uint8Array>;
  /**
   * Removes a body once its mail is done with it. With a connection given to the store, an
   * inline body with a sequence is removed by a request that asks for no answer: it
   * resolves once the request is handed to the connection, not once the server acted.
   * A removal lost on the way leaves the body to the stream's max age, which removes
   * every body in the end; nothing reads a body after its removal was asked for.
   */
  remove(messageId: string, ref: BodyRef): Promise<void>;
}

export async function createBodyStore(options: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /**
   * The connection under js: removals by sequence are then published without a reply
   * subject (no answer to send, wait for and read). Without it they are answered requests.
   */
  nc?: NatsConnection;
  replicas: number;
  maxAgeMs: number;
  inlineLimit?: number;
}): Promise<BodyStore> {
  const { js, jsm } = options;
  const inlineLimit = options.inlineLimit ?? INLINE_BODY_LIMIT;
  let objects: ObjectStore | undefined;

  async function objectStore(): Promise<ObjectStore> {
    objects ??= await new Objm(js).create(OBJECT_BUCKETS.bodies, {
      storage: StorageType.File,
      replicas: options.replicas,
      ttl: nanos(options.maxAgeMs),
    });
    return objects;
  }

  /**
   * A body needed for long, copied out before the bodies stream was purged past it
   * (HIKYAKU_BODY_REMOVAL=purge). A relay whose services do not declare that stream yet has
   * none to read: no copy.
   */
  async function keptCopy(messageId: string): Promise<StoredMsg | null> {
    try {
      return await jsm.streams.getMessage(STREAMS.bodiesKept, {
        last_by_subj: SUBJECTS.keptBody(messageId),
      });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        return null;
      }
      throw err;
    }
  }

  return {
    async put(messageId, body) {
      if (body.byteLength <= inlineLimit) {
        const ack = await js.publish(SUBJECTS.body(messageId), body, {
          msgID: MSG_IDS.body(messageId),
        });
        return { store: 'stream', size: body.byteLength, seq: ack.seq };
      }
      const os = await objectStore();
      await os.putBlob({ name: messageId }, body);
      return { store: 'object', size: body.byteLength };
    },

    async putWithEnvelope(envelope, body) {
      if (body.byteLength > inlineLimit) return undefined;
      const value = envelopeHeader.encode({
        ...envelope,
        body: { store: 'stream', size: body.byteLength },
      });
      if (value.length > ENVELOPE_HEADER_LIMIT) return undefined;
      const h = headers();
      h.set(ENVELOPE_HEADER, value);
      const ack = await js.publish(SUBJECTS.body(envelope.id), body, {
        msgID: MSG_IDS.body(envelope.id),
        headers: h,
      });
      return { store: 'stream', size: body.byteLength, seq: ack.seq };
    },

    async get(messageId, ref) {
      if (ref.store === 'stream') {
        if (options.nc) {
          // The client's direct get decodes every header of the reply (the stored envelope
          // among them) to find its status. A reply with a payload is the body; only an
          // empty one — a status such as "not found", or an empty body — is asked again
          // below, where its headers are read.
          const jsOptions = jsm.getOptions();
          const reply = await options.nc.request(
            SUBJECTS.directGetLast(STREAMS.bodies, SUBJECTS.body(messageId), jsOptions.apiPrefix),
            Empty,
            { timeout: jsOptions.timeout ?? DIRECT_GET_TIMEOUT_MS },
          );
          const data = reply.data;
          if (data.byteLength > 0) return data;
        }
        const query = { last_by_subj: SUBJECTS.body(messageId) };
        // A direct get may be answered by any replica, also one still catching up after a
        // restart, which does not have the body yet; the stream's leader has every body it
        // acknowledged, so only its "not found" means the body is gone.
        const stored =
          (await jsm.direct.getMessage(STREAMS.bodies, query)) ??
          (await jsm.streams.getMessage(STREAMS.bodies, query)) ??
          (await keptCopy(messageId));
        if (!stored) throw new BodyMissingError(messageId);
        return stored.data;
      }
      const os = await objectStore();
      const data = await os.getBlob(messageId);
      if (!data) throw new BodyMissingError(messageId);
      return data;
    },

    async remove(messageId, ref) {
      if (ref.store === 'stream') {
        // Deleting by sequence is a point operation; a purge by subject scans the stream.
        if (ref.seq !== undefined && options.nc) {
          // nats-server acts on a JetStream API request without a reply subject and sends
          // nothing back (it answers only when there is a reply subject): one message in,
          // none out, and no reply for this process to wait for or read.
          options.nc.publish(
            SUBJECTS.streamMessageDelete(STREAMS.bodies, jsm.getOptions().apiPrefix),
            JSON.stringify({ seq: ref.seq, no_erase: true }),
          );
        } else if (ref.seq !== undefined) {
          await jsm.streams.deleteMessage(STREAMS.bodies, ref.seq, false);
        } else await jsm.streams.purge(STREAMS.bodies, { filter: SUBJECTS.body(messageId) });
        return;
      }
      const os = await objectStore();
      await os.delete(messageId);
    },
  };
}
