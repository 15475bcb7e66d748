/**
 * Local mode runs one pool. A data folder used before with another pool file still has that
 * pool in KV, and an ingress that finds two pools for the same client network could file
 * new mail under the one no sender runs for. So the other pools are taken out of KV at
 * start, and the mail still filed under them is counted and reported: it stays stored, and
 * is delivered when that pool file runs again. Mail stored with its envelope in its body's
 * message names no pool until the scheduler splits it, so all of it still to split counts as
 * waiting under every pool put away: a pool is reported empty only when it surely is.
 */

import {
  bodyEnvelopesWaiting,
  KV_BUCKETS,
  KV_KEYS,
  liveKvEntries,
  removePool,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';

export interface RetiredPool {
  pool: string;
  /**
   * Stored items still waiting under it: envelopes, delivery items, jobs and results, plus
   * the mail of any pool stored with its envelope and not split yet.
   */
  waiting: number;
}

async function countFiled(jsm: JetStreamManager, stream: string, filter: string) {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
}

/** Removes every pool but `keep` from KV; returns them with the mail they still hold. */
export async function retireOtherPools(
  kv: KV,
  jsm: JetStreamManager,
  keep: string,
): Promise<RetiredPool[]> {
  const prefix = KV_KEYS.pool('');
  const others: string[] = [];
  for (const { key } of await liveKvEntries(jsm, kv, KV_BUCKETS.pools, KV_KEYS.pool('>'))) {
    const pool = key.slice(prefix.length);
    if (pool !== keep) others.push(pool);
  }
  const retired: RetiredPool[] = [];
  const unsplit = others.length > 0 ? await bodyEnvelopesWaiting(jsm) : 0;
  for (const pool of others) {
    const counts = await Promise.all([
      countFiled(jsm, STREAMS.envelopes, SUBJECTS.envelope(pool)),
      countFiled(jsm, STREAMS.queue, SUBJECTS.queue(pool)),
      countFiled(jsm, STREAMS.jobs, SUBJECTS.jobsOfPool(pool)),
      countFiled(jsm, STREAMS.results, SUBJECTS.result(pool)),
    ]);
    await removePool(kv, pool);
    retired.push({ pool, waiting: counts.reduce((a, b) => a + b, unsplit) });
  }
  return retired;
}
