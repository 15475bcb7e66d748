/**
 * The relay's wire version: the one its pods write (queue items, jobs, results, and at 2
 * an inline body carrying its envelope, bodies removed in purges) when HIKYAKU_WIRE_VERSION
 * does not name one. It is kept in NATS KV so that every pod reads the same answer.
 *
 * A relay set up by this release starts at the newest version: no pod of an earlier
 * release has read its streams, so none can meet what it does not read. A relay whose
 * streams an earlier release created (the envelopes stream is there, the setting is not)
 * starts at 1, since pods of that release may still be running in the same rolling
 * upgrade; it is raised once they are gone (`hikyaku wire-version --set 2`). The setting is
 * recorded before any stream is created, so a stream without it can only be an earlier
 * release's.
 */
import { JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { KV_BUCKETS, KV_KEYS, STREAMS } from './contract/subjects.ts';
import {
  DEFAULT_WIRE_VERSION,
  NEWEST_WIRE_VERSION,
  WIRE_VERSIONS,
  type WireVersion,
} from './contract/wire-version.ts';
import { ConfigError, HikyakuError } from './errors.ts';
import { isNotFoundError, isWrongLastSequence } from './jetstream-ready.ts';
import type { Logger } from './log.ts';

/** The stream behind the relay settings bucket. */
export const RELAY_KV_STREAM = `KV_${KV_BUCKETS.relay}`;

export interface RelayWireVersion {
  version: WireVersion;
  /** The KV revision of the setting; 0 when the relay has none (nothing set it up yet). */
  revision: number;
}

/** JetStream's answer to a second creation of a stream: "subjects overlap". */
const SUBJECTS_OVERLAP = 10065;

async function openBucket(js: JetStreamClient, replicas: number): Promise<KV> {
  const create = () => new Kvm(js).create(KV_BUCKETS.relay, { history: 1, replicas });
  try {
    return await create();
  } catch (err) {
    // Another pod created the bucket between this one's look and its creation: it is there.
    const raced =
      err instanceof JetStreamApiError &&
      (err.code === SUBJECTS_OVERLAP || /already in use/i.test(err.message));
    if (!raced) throw err;
    return create();
  }
}

/**
 * The version a stored value names. A later release may record a version this code does
 * not write: its pods read this code's newest, so that is what this code writes.
 */
export function parseRelayWireVersion(text: string): WireVersion {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(
      `${KV_BUCKETS.relay} ${KV_KEYS.wireVersion} holds "${text}", not a wire version (${WIRE_VERSIONS.join(', ')})`,
    );
  }
  return WIRE_VERSIONS.find((v) => v === n) ?? NEWEST_WIRE_VERSION;
}

/**
 * Records the wire version of a relay that has none: the newest when no stream of the
 * relay exists yet, 1 when an earlier release created them. Set-up calls it before it
 * creates any stream. When several pods start at once the first record stands; the others'
 * are refused and they read it.
 */
export async function recordRelayWireVersion(
  js: JetStreamClient,
  replicas: number,
): Promise<{ version: WireVersion; recorded: boolean }> {
  const kv = await openBucket(js, replicas);
  const entry = await kv.get(KV_KEYS.wireVersion);
  if (entry && entry.operation === 'PUT') {
    return { version: parseRelayWireVersion(entry.string()), recorded: false };
  }
  const jsm = await js.jetstreamManager(false);
  let earlier = true;
  try {
    await jsm.streams.info(STREAMS.envelopes);
  } catch (err) {
    if (!isNotFoundError(err)) throw err;
    earlier = false;
  }
  const version = earlier ? DEFAULT_WIRE_VERSION : NEWEST_WIRE_VERSION;
  try {
    await kv.create(KV_KEYS.wireVersion, String(version));
    return { version, recorded: true };
  } catch (err) {
    if (!isWrongLastSequence(err)) throw err;
    return { version: (await readRelayWireVersion(js)).version, recorded: false };
  }
}

/**
 * The relay's wire version as recorded. A relay without the record (its set-up has not run,
 * or an earlier release's did) is at 1, which every release reads.
 */
export async function readRelayWireVersion(js: JetStreamClient): Promise<RelayWireVersion> {
  const kv = await openExisting(js);
  const entry = kv ? await kv.get(KV_KEYS.wireVersion) : null;
  if (entry && entry.operation === 'PUT') {
    return { version: parseRelayWireVersion(entry.string()), revision: entry.revision };
  }
  return { version: DEFAULT_WIRE_VERSION, revision: 0 };
}

/** The relay settings bucket, or undefined when no set-up of this release created it. */
async function openExisting(js: JetStreamClient): Promise<KV | undefined> {
  const jsm = await js.jetstreamManager(false);
  try {
    await jsm.streams.info(RELAY_KV_STREAM);
  } catch (err) {
    if (isNotFoundError(err)) return undefined;
    throw err;
  }
  return new Kvm(js).open(KV_BUCKETS.relay);
}

/**
 * Sets the relay's wire version; pods that take it from the relay write it from their next
 * start. Refused on a relay no pod of this release has set up: its pods could not read it.
 */
export async function setRelayWireVersion(
  js: JetStreamClient,
  version: WireVersion,
): Promise<RelayWireVersion> {
  const kv = await openExisting(js);
  if (!kv) {
    throw new HikyakuError(
      'HIKYAKU_RELAY_NOT_SET_UP',
      `no ${KV_BUCKETS.relay} bucket: no pod of this release has started on this relay yet`,
    );
  }
  const revision = await kv.put(KV_KEYS.wireVersion, String(version));
  return { version, revision };
}

/**
 * The wire version a pod writes: HIKYAKU_WIRE_VERSION when set, else the relay's. Read once
 * at start, and logged with where it came from.
 */
export async function wireVersionToWrite(
  configured: WireVersion | undefined,
  js: JetStreamClient,
  log?: Logger,
): Promise<WireVersion> {
  const version = configured ?? (await readRelayWireVersion(js)).version;
  log?.info(
    { wireVersion: version, from: configured === undefined ? 'relay' : 'HIKYAKU_WIRE_VERSION' },
    'wire version',
  );
  return version;
}
