/**
 * Where each sending IP stands with blocklists, reverse DNS and receivers, kept in NATS KV
 * (one entry per pool and IP) so that every scheduler replica honours the same pauses, the
 * operator shows them on the RelayPool, and local mode and the CLI read them without
 * Kubernetes. Writers use compare-and-set on the entry's revision: replicas that decide
 * at the same moment do not overwrite each other, and a human's resume is never lost under
 * a scheduler's write.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import { KV_BUCKETS, KV_KEYS, parseIpReputationKey } from './contract/subjects.ts';
import { HikyakuError } from './errors.ts';
import { isWrongLastSequence } from './jetstream-ready.ts';
import { liveKvEntries } from './kv-list.ts';
import { type IpReputation, isIpReputation } from './policy/reputation.ts';

export interface StoredReputation {
  pool: string;
  state: IpReputation;
  /** The KV revision, for compare-and-set. */
  revision: number;
}

export class ReputationConflictError extends HikyakuError {
  constructor(pool: string, address: string, options?: { cause?: unknown }) {
    super(
      'HIKYAKU_REPUTATION_CONFLICT',
      `the reputation state of ${address} in pool ${pool} kept changing; try again`,
      options,
    );
    this.name = 'ReputationConflictError';
  }
}

export interface ReputationStore {
  get(pool: string, address: string): Promise<StoredReputation | undefined>;
  list(pool: string): Promise<IpReputation[]>;
  /** As list, with each entry's revision. */
  listStored(pool: string): Promise<StoredReputation[]>;
  /**
   * Writes the state if the entry is still at `revision` (0: must not exist yet); false when
   * someone else wrote first.
   */
  put(pool: string, state: IpReputation, revision: number): Promise<boolean>;
  /** Reads, changes and writes back, retrying on a concurrent write. */
  update(
    pool: string,
    address: string,
    change: (state: IpReputation | undefined) => IpReputation | undefined,
  ): Promise<IpReputation | undefined>;
  remove(pool: string, address: string): Promise<void>;
  /**
   * Every change (and, first, every entry), until the returned stop(). `onError` hears of a
   * watch that ended by itself (NATS closed under it).
   */
  watch(
    listener: (entry: StoredReputation | { pool: string; removed: string }) => void,
    onError: (err: unknown) => void,
  ): Promise<() => void>;
}

const UPDATE_TRIES = 5;

function decode(entry: KvEntry): IpReputation | undefined {
  if (entry.operation !== 'PUT') return undefined;
  try {
    const value: unknown = entry.json();
    return isIpReputation(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function openReputationStore(
  js: JetStreamClient,
  replicas = 1,
): Promise<ReputationStore> {
  const kv: KV = await new Kvm(js).create(KV_BUCKETS.ipReputation, { history: 1, replicas });
  const jsm = await js.jetstreamManager(false);

  async function get(pool: string, address: string): Promise<StoredReputation | undefined> {
    const entry = await kv.get(KV_KEYS.ipReputation(pool, address));
    if (!entry) return undefined;
    const state = decode(entry);
    return state ? { pool, state, revision: entry.revision } : undefined;
  }

  async function put(pool: string, state: IpReputation, revision: number): Promise<boolean> {
    const key = KV_KEYS.ipReputation(pool, state.address);
    try {
      if (revision === 0) await kv.create(key, JSON.stringify(state));
      else await kv.update(key, JSON.stringify(state), revision);
      return true;
    } catch (err) {
      // The server refuses a stale revision, or a create of a key someone wrote meanwhile.
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  async function listStored(pool: string): Promise<StoredReputation[]> {
    const out: StoredReputation[] = [];
    const entries = await liveKvEntries(
      jsm,
      kv,
      KV_BUCKETS.ipReputation,
      KV_KEYS.ipReputationOfPool(pool),
    );
    for (const entry of entries) {
      const state = decode(entry);
      if (state) out.push({ pool, state, revision: entry.revision });
    }
    return out.sort((a, b) => a.state.address.localeCompare(b.state.address));
  }

  return {
    get,
    put,
    listStored,
    async list(pool) {
      return (await listStored(pool)).map((e) => e.state);
    },
    async update(pool, address, change) {
      for (let attempt = 0; attempt < UPDATE_TRIES; attempt++) {
        const entry = await kv.get(KV_KEYS.ipReputation(pool, address));
        const current = entry ? decode(entry) : undefined;
        // create() also takes the place of a deleted entry.
        const revision = entry && entry.operation === 'PUT' ? entry.revision : 0;
        const next = change(current);
        if (!next) return current;
        if (await put(pool, next, revision)) return next;
      }
      throw new ReputationConflictError(pool, address);
    },
    async remove(pool, address) {
      await kv.delete(KV_KEYS.ipReputation(pool, address));
    },
    async watch(listener, onError) {
      const iterator = await kv.watch({ key: KV_KEYS.ipReputationAll });
      (async () => {
        for await (const entry of iterator) {
          const where = parseIpReputationKey(entry.key);
          if (!where) continue;
          const state = decode(entry);
          if (state) listener({ pool: where.pool, state, revision: entry.revision });
          else listener({ pool: where.pool, removed: where.token });
        }
      })().catch(onError);
      return () => iterator.stop();
    },
  };
}
