/**
 * The data plane's view of the pools: compiled policies read from NATS KV and followed live,
 * so a spec change reaches every replica without a restart. The data plane never talks to
 * the Kubernetes API.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { KV_BUCKETS, KV_KEYS } from '../contract/subjects.ts';
import type { Logger } from '../log.ts';
import type { CompiledPool } from './compile.ts';

export async function openPoolBucket(js: JetStreamClient, replicas = 1): Promise<KV> {
  return new Kvm(js).create(KV_BUCKETS.pools, { history: 5, replicas });
}

export async function publishPool(kv: KV, pool: CompiledPool): Promise<void> {
  await kv.put(KV_KEYS.pool(pool.key), JSON.stringify(pool));
}

export async function removePool(kv: KV, key: string): Promise<void> {
  await kv.delete(KV_KEYS.pool(key));
}

export interface PoolDirectory {
  get(key: string): CompiledPool | undefined;
  all(): CompiledPool[];
  /** Resolves once the pool is known (or rejects after timeoutMs). */
  waitFor(key: string, timeoutMs: number): Promise<CompiledPool>;
  onChange(listener: (pool: CompiledPool | undefined, key: string) => void): void;
  stop(): void;
}

export async function watchPools(kv: KV, log: Logger): Promise<PoolDirectory> {
  const pools = new Map<string, CompiledPool>();
  const listeners: ((pool: CompiledPool | undefined, key: string) => void)[] = [];
  const iterator = await kv.watch({ key: KV_KEYS.pool('>') });
  const prefix = KV_KEYS.pool('');

  (async () => {
    for await (const entry of iterator) {
      const key = entry.key.slice(prefix.length);
      if (entry.operation !== 'PUT') {
        pools.delete(key);
        for (const l of listeners) l(undefined, key);
        continue;
      }
      try {
        const pool = entry.json<CompiledPool>();
        pools.set(key, pool);
        for (const l of listeners) l(pool, key);
      } catch (err) {
        log.error({ err, key }, 'ignoring unreadable pool policy');
      }
    }
  })().catch((err: unknown) => log.error({ err }, 'pool watch ended'));

  return {
    get: (key) => pools.get(key),
    all: () => [...pools.values()],
    waitFor(key, timeoutMs) {
      const known = pools.get(key);
      if (known) return Promise.resolve(known);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`pool ${key} not found in NATS KV after ${timeoutMs} ms`)),
          timeoutMs,
        );
        listeners.push((pool, k) => {
          if (pool && k === key) {
            clearTimeout(timer);
            resolve(pool);
          }
        });
      });
    },
    onChange(listener) {
      listeners.push(listener);
    },
    stop() {
      iterator.stop();
    },
  };
}
