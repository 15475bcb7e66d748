/**
 * The Secrets pools name (submitter passwords, DKIM keys), each followed by a watch of its
 * own (a field selector on its name), so that the operator holds those few Secrets and not
 * every Secret of the cluster. A watch starts when a pool first needs its Secret and ends
 * when no pool names it any more.
 */

import type { Logger } from '@hikyaku/core';
import type { V1Secret } from '@kubernetes/client-node';
import { KubeApiError } from '../errors.ts';
import type { Informer, InformerHandlers } from './informer.ts';
import { objectKey } from './objects.ts';

export interface NamedSecrets {
  /** The Secret as last seen; undefined when it does not exist or is not followed yet. */
  get(namespace: string, name: string): V1Secret | undefined;
  /**
   * Follows these Secrets (starting their watches) and resolves once each is loaded; a
   * KubeApiError (retried by the queue) when one is not loaded within the load timeout.
   */
  load(namespace: string, names: readonly string[]): Promise<void>;
  /** Ends the watches of every Secret not in `keys` (namespace/name). */
  retain(keys: ReadonlySet<string>): void;
  on(handlers: InformerHandlers<V1Secret>): void;
  /** Number of Secrets followed, for tests and logs. */
  size(): number;
  stop(): Promise<void>;
}

export interface NamedSecretsOptions {
  /** A started-on-demand cache of the one Secret. */
  informer(namespace: string, name: string): Informer<V1Secret>;
  /** How long load() waits for a new watch's first list. */
  loadTimeoutMs: number;
  log: Logger;
}

export function createNamedSecrets(options: NamedSecretsOptions): NamedSecrets {
  const followed = new Map<string, Informer<V1Secret>>();
  const handlers: InformerHandlers<V1Secret>[] = [];
  let stopped = false;

  function follow(namespace: string, name: string): Informer<V1Secret> {
    const key = objectKey(namespace, name);
    let informer = followed.get(key);
    if (!informer) {
      informer = options.informer(namespace, name);
      for (const h of handlers) informer.on(h);
      followed.set(key, informer);
      if (!stopped) informer.start();
    }
    return informer;
  }

  function end(key: string, informer: Informer<V1Secret>): void {
    followed.delete(key);
    informer.stop().catch((err: unknown) => {
      options.log.warn({ err, secret: key }, 'ending the watch of a Secret failed');
    });
  }

  return {
    get: (namespace, name) => followed.get(objectKey(namespace, name))?.get(namespace, name),
    async load(namespace, names) {
      const pending = names.map((name) => follow(namespace, name)).filter((i) => !i.hasSynced());
      if (pending.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const what = names.map((n) => objectKey(namespace, n)).join(', ');
          reject(new KubeApiError(`the Secrets ${what} could not be listed yet`, 0, undefined));
        }, options.loadTimeoutMs);
      });
      try {
        await Promise.race([Promise.all(pending.map((i) => i.synced())), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    retain(keys) {
      for (const [key, informer] of [...followed]) if (!keys.has(key)) end(key, informer);
    },
    on(h) {
      handlers.push(h);
      for (const informer of followed.values()) informer.on(h);
    },
    size: () => followed.size,
    async stop() {
      stopped = true;
      const all = [...followed.values()];
      followed.clear();
      await Promise.all(all.map((i) => i.stop()));
    },
  };
}
