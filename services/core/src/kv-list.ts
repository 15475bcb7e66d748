/**
 * Listing a KV bucket's live entries under a key filter without `kv.keys()`: that runs an
 * ordered push consumer whose idle-heartbeat timer can fire after its connection closed
 * (nats.js 3.x), throwing and keeping a short-lived process (a CLI, a test) from exiting.
 * The stream's subject index answers the same question with one request per page.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';

/** Entries whose last operation is a PUT, in key order. */
export async function liveKvEntries(
  jsm: JetStreamManager,
  kv: KV,
  bucket: string,
  filter: string,
): Promise<KvEntry[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
  const entries: KvEntry[] = [];
  for (const subject of Object.keys(info.state.subjects ?? {}).sort()) {
    const entry = await kv.get(subject.slice(prefix.length));
    if (entry?.operation === 'PUT') entries.push(entry);
  }
  return entries;
}
