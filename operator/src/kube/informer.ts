/**
 * A cache of one resource kept current by list + watch, robust where client-node's
 * ListWatch is not: it lists again after 410 Gone, restarts with back-off after any other
 * failure (ListWatch stops for good), asks the server to end each watch after a while and
 * cuts a stream that outlives that (a half-open connection delivers nothing and never
 * ends), and re-lists periodically so that an event lost on the way is made up for.
 */
import type { Logger } from '@hikyaku/core';
import { backoffDelay } from '../queue.ts';
import type { WatchedResource } from './client.ts';
import { type ObjectLike, objectKey } from './objects.ts';

export type RestartReason = 'closed' | 'expired' | 'watchdog' | 'error' | 'resync';

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T, old: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T extends ObjectLike> {
  resource: WatchedResource<T>;
  log: Logger;
  /** Asked of the server per watch (randomised up to twice this, as client-go does). */
  watchTimeoutSeconds: number;
  /** Full re-list at least this often. */
  resyncIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  onRestart?(reason: RestartReason): void;
}

export interface Informer<T extends ObjectLike> {
  on(handlers: InformerHandlers<T>): void;
  get(namespace: string | undefined, name: string): T | undefined;
  list(): T[];
  start(): void;
  /** Resolves once the first list has been loaded. */
  synced(): Promise<void>;
  hasSynced(): boolean;
  stop(): Promise<void>;
}

type WatchEnd = 'closed' | 'expired' | 'watchdog' | 'stopped';

/** A watch that must be restarted at once from the last resourceVersion, or listed again. */
class WatchFailure extends Error {
  readonly expired: boolean;
  constructor(message: string, expired: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WatchFailure';
    this.expired = expired;
  }
}

const WATCHDOG_MARGIN_MS = 5000;

export function createInformer<T extends ObjectLike>(options: InformerOptions<T>): Informer<T> {
  const { resource, log } = options;
  const cache = new Map<string, T>();
  const handlers: InformerHandlers<T>[] = [];
  let resourceVersion = '';
  let stopped = false;
  let hasSynced = false;
  let running: Promise<void> | undefined;
  let interrupt: (() => void) | undefined;
  let markSynced: () => void = () => {};
  const syncedPromise = new Promise<void>((resolve) => {
    markSynced = resolve;
  });

  const keyOf = (obj: T) => objectKey(obj.metadata?.namespace, obj.metadata?.name);

  const emit = (fire: (h: InformerHandlers<T>) => void) => {
    for (const h of handlers) {
      try {
        fire(h);
      } catch (err) {
        log.error({ err, resource: resource.name }, 'informer handler failed');
      }
    }
  };

  const upsert = (obj: T) => {
    const key = keyOf(obj);
    const old = cache.get(key);
    cache.set(key, obj);
    if (!old) emit((h) => h.add?.(obj));
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      emit((h) => h.update?.(obj, old));
    }
  };

  const remove = (obj: T) => {
    const key = keyOf(obj);
    const old = cache.get(key);
    if (!cache.delete(key)) return;
    emit((h) => h.delete?.(old ?? obj));
  };

  async function relist(): Promise<void> {
    const listed = await resource.list();
    const seen = new Set<string>();
    for (const item of listed.items) {
      seen.add(keyOf(item));
      upsert(item);
    }
    for (const [key, obj] of [...cache]) if (!seen.has(key)) remove(obj);
    resourceVersion = listed.resourceVersion;
    if (!hasSynced) {
      hasSynced = true;
      markSynced();
    }
  }

  function watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let controller: AbortController | undefined;
      let settled = false;
      let expired = false;
      const timeoutSeconds = Math.ceil(options.watchTimeoutSeconds * (1 + Math.random()));
      const settle = (outcome: WatchEnd | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        interrupt = undefined;
        controller?.abort();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      // The server ends the stream at timeoutSeconds; one still open well after is dead.
      const margin = Math.min(WATCHDOG_MARGIN_MS, timeoutSeconds * 1000);
      const watchdog = setTimeout(() => settle('watchdog'), timeoutSeconds * 1000 + margin);
      interrupt = () => settle('stopped');
      const onEvent = (type: string, object: T & { code?: number; message?: string }) => {
        if (settled) return;
        if (type === 'ERROR') {
          if (object.code === 410) expired = true;
          else settle(new WatchFailure(`watch error: ${object.message ?? object.code}`, false));
          return;
        }
        if (type === 'ADDED' || type === 'MODIFIED') upsert(object);
        else if (type === 'DELETED') remove(object);
        const rv = object.metadata?.resourceVersion;
        if (rv) resourceVersion = rv;
      };
      const onDone = (err: unknown) => {
        if (settled) return;
        const e = err as { statusCode?: number; code?: number; message?: string } | null;
        if (expired || e?.statusCode === 410 || e?.code === 410) settle('expired');
        else if (!err) settle('closed');
        else
          settle(
            new WatchFailure(`watch failed: ${e?.message ?? String(err)}`, false, { cause: err }),
          );
      };
      resource
        .watch(
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
          onEvent as (type: string, object: ObjectLike) => void,
          onDone,
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => settle(err instanceof Error ? err : new Error(String(err))),
        );
    });
  }

  /** Waits, unless stop() comes first. */
  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        interrupt = undefined;
        resolve();
      }, ms);
      interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async function run(): Promise<void> {
    let failures = 0;
    let mustList = true;
    let listedAt = 0;
    while (!stopped) {
      try {
        if (mustList || Date.now() - listedAt >= options.resyncIntervalMs) {
          if (!mustList) options.onRestart?.('resync');
          await relist();
          mustList = false;
          listedAt = Date.now();
        }
        const startedAt = Date.now();
        const end = await watchOnce();
        if (end === 'stopped') break;
        options.onRestart?.(end);
        if (end === 'expired') mustList = true;
        if (end === 'watchdog')
          log.warn({ resource: resource.name }, 'watch went silent; restarting it');
        // A stream that ends at once, again and again, is a failure in disguise.
        failures = Date.now() - startedAt < 1000 && end !== 'expired' ? failures + 1 : 0;
        if (failures > 0)
          await pause(backoffDelay(failures, options.retryBaseMs, options.retryMaxMs));
      } catch (err) {
        failures += 1;
        if (err instanceof WatchFailure && err.expired) mustList = true;
        options.onRestart?.('error');
        const delay = backoffDelay(failures, options.retryBaseMs, options.retryMaxMs);
        log.warn({ err, resource: resource.name, retryInMs: delay }, 'list/watch failed; retrying');
        await pause(delay);
      }
    }
  }

  return {
    on(h) {
      handlers.push(h);
    },
    get: (namespace, name) => cache.get(objectKey(namespace, name)),
    list: () => [...cache.values()],
    start() {
      if (running) return;
      stopped = false;
      running = run().catch((err: unknown) => {
        log.error({ err, resource: resource.name }, 'informer stopped unexpectedly');
      });
    },
    synced: () => syncedPromise,
    hasSynced: () => hasSynced,
    async stop() {
      stopped = true;
      interrupt?.();
      await running;
      running = undefined;
    },
  };
}
