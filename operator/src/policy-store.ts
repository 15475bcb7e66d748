/**
 * The operator's side of NATS: the compiled pool policies in KV (the data plane's source
 * of truth) and the queue depth of an IP being drained. Writes are refused unless this
 * replica leads. A change to an entry made by anyone else (an operator of another version,
 * a person with the nats CLI, a KV restored from backup) is reported so that the pool is
 * reconciled and the entry put right.
 */

import type { CompiledPool, Logger } from '@hikyaku/core';
import { KV_KEYS, removePool, STREAMS, SUBJECTS } from '@hikyaku/core';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { NotLeaderError, PublishError } from './errors.ts';

export interface PublishedPolicy {
  pool: CompiledPool;
  /** The policy exactly as stored, to compare a new one against. */
  text: string;
  revision: number;
}

export interface PolicyStore {
  read(poolKey: string): Promise<PublishedPolicy | undefined>;
  /** Writes the policy; returns the entry's new revision. */
  write(pool: CompiledPool): Promise<number>;
  remove(poolKey: string): Promise<void>;
  /** Jobs queued for an IP and not yet acknowledged by its sender. */
  pendingJobs(poolKey: string, address: string): Promise<number>;
  /** The last revision of a key this store wrote or saw; undefined when none. */
  knownRevision(poolKey: string): number | undefined;
  /** Calls `onForeignChange` for writes this store did not make. */
  watch(onForeignChange: (poolKey: string) => void): Promise<void>;
  stop(): void;
}

export function createPolicyStore(options: {
  kv: KV;
  jsm: JetStreamManager;
  isLeader: () => boolean;
  log: Logger;
}): PolicyStore {
  const { kv, jsm, log } = options;
  const revisions = new Map<string, number>();
  const prefix = KV_KEYS.pool('');
  let stopWatch: (() => void) | undefined;

  const guard = (what: string) => {
    if (!options.isLeader()) throw new NotLeaderError(what);
  };

  return {
    async read(poolKey) {
      let entry: Awaited<ReturnType<KV['get']>>;
      try {
        entry = await kv.get(KV_KEYS.pool(poolKey));
      } catch (err) {
        throw new PublishError(
          `cannot read the policy of ${poolKey} from NATS KV: ${(err as Error).message}`,
          err,
        );
      }
      if (entry?.operation !== 'PUT') return undefined;
      revisions.set(poolKey, entry.revision);
      const text = entry.string();
      try {
        return { pool: JSON.parse(text) as CompiledPool, text, revision: entry.revision };
      } catch (err) {
        // Unreadable: it is replaced by the next write, which is what should happen.
        log.warn({ err, pool: poolKey }, 'published policy is not JSON; it will be replaced');
        return undefined;
      }
    },
    async write(pool) {
      guard(`publish the policy of ${pool.key}`);
      try {
        const revision = await kv.put(KV_KEYS.pool(pool.key), JSON.stringify(pool));
        revisions.set(pool.key, revision);
        return revision;
      } catch (err) {
        throw new PublishError(
          `cannot publish the policy of ${pool.key} to NATS KV: ${(err as Error).message}`,
          err,
        );
      }
    },
    async remove(poolKey) {
      guard(`remove the policy of ${poolKey}`);
      try {
        await removePool(kv, poolKey);
        revisions.delete(poolKey);
      } catch (err) {
        throw new PublishError(
          `cannot remove the policy of ${poolKey} from NATS KV: ${(err as Error).message}`,
          err,
        );
      }
    },
    async pendingJobs(poolKey, address) {
      const subject = SUBJECTS.job(poolKey, address);
      try {
        const info = await jsm.streams.info(STREAMS.jobs, { subjects_filter: subject });
        return info.state.subjects?.[subject] ?? 0;
      } catch (err) {
        throw new PublishError(
          `cannot read the job queue of ${address}: ${(err as Error).message}`,
          err,
        );
      }
    },
    knownRevision: (poolKey) => revisions.get(poolKey),
    async watch(onForeignChange) {
      let stopped = false;
      let iterator = await kv.watch({ key: KV_KEYS.pool('>') });
      let retry: NodeJS.Timeout | undefined;
      stopWatch = () => {
        stopped = true;
        clearTimeout(retry);
        iterator.stop();
      };
      const follow = async (): Promise<void> => {
        for await (const entry of iterator) {
          const poolKey = entry.key.slice(prefix.length);
          const known = revisions.get(poolKey);
          if (entry.operation === 'PUT' && known === entry.revision) continue;
          if (entry.operation !== 'PUT' && known === undefined) continue;
          if (entry.operation === 'PUT') revisions.set(poolKey, entry.revision);
          else revisions.delete(poolKey);
          onForeignChange(poolKey);
        }
      };
      // The watch outlives NATS reconnects; should it end anyway, it is opened again (it
      // replays every entry, so nothing changed meanwhile is missed).
      const run = (): void => {
        follow()
          .catch((err: unknown) => log.warn({ err }, 'policy watch failed'))
          .finally(() => {
            if (stopped) return;
            retry = setTimeout(() => {
              kv.watch({ key: KV_KEYS.pool('>') }).then(
                (it) => {
                  iterator = it;
                  if (stopped) it.stop();
                  else run();
                },
                (err: unknown) => {
                  log.warn({ err }, 'cannot reopen the policy watch; retrying');
                  run();
                },
              );
            }, 1000);
          });
      };
      run();
    },
    stop() {
      stopWatch?.();
    },
  };
}
