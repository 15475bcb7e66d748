/**
 * The garbage collector and namespace controller, reduced to what an operator can observe:
 * when an object is gone, its dependents (objects whose ownerReferences name its uid) are
 * deleted in the background, unless another live owner still holds them or the owner was
 * deleted with propagationPolicy=Orphan, in which case only the reference is dropped.
 * Deleting a namespace marks it Terminating and deletes what is in it; objects with
 * finalizers linger, marked, and hold the namespace until the last of them is gone.
 * Foreground propagation is treated as Background.
 */
import { KubeStatusError } from './errors.ts';
import type { KubeObject } from './object.ts';
import type { ResourceRegistry, ResourceType } from './resources.ts';
import type { ApiVerbs } from './verbs.ts';
import type { Change } from './watch.ts';

export interface GarbageCollector {
  onChange(change: Change): void;
  /** Resolves once every sweep queued so far has run. */
  idle(): Promise<void>;
  stop(): void;
}

function typeOf(registry: ResourceRegistry, key: string): ResourceType | undefined {
  return registry.versionsOf(key)[0];
}

export function createGarbageCollector(
  verbs: ApiVerbs,
  onError: (err: unknown) => void,
): GarbageCollector {
  let pending: Promise<void> = Promise.resolve();
  let stopped = false;

  const tolerate = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      // A dependent deleted meanwhile needs no collecting.
      if (!(err instanceof KubeStatusError && err.code === 'NotFound')) onError(err);
    }
  };

  const releaseOrDelete = (key: string, obj: KubeObject, ownerUid: string, orphan: boolean) => {
    const type = typeOf(verbs.registry, key);
    if (!type) return;
    const { namespace, name } = obj.metadata;
    const refs = obj.metadata.ownerReferences ?? [];
    const others = refs.filter((r) => r.uid !== ownerUid);
    const liveOwner = others.some((r) => verbs.store.findByUid(r.uid) !== undefined);
    tolerate(() => {
      if (orphan || liveOwner) {
        const patch = { metadata: { ownerReferences: others.length ? others : null } };
        verbs.patch(type, namespace, name!, 'merge', patch, undefined);
      } else {
        verbs.remove(type, namespace, name!, { propagationPolicy: 'Background' });
      }
    });
  };

  const sweepDependents = (ownerUid: string) => {
    const orphan = verbs.takeOrphaned(ownerUid);
    for (const { key, object } of verbs.store.entries()) {
      if (object.metadata.ownerReferences?.some((r) => r.uid === ownerUid)) {
        releaseOrDelete(key, object, ownerUid, orphan);
      }
    }
  };

  const emptyNamespace = (namespace: string) => {
    for (const { key, object } of verbs.store.entries()) {
      if (object.metadata.namespace !== namespace || object.metadata.deletionTimestamp) continue;
      const type = typeOf(verbs.registry, key);
      if (type?.namespaced) {
        tolerate(() => verbs.remove(type, namespace, object.metadata.name!));
      }
    }
  };

  const queue = (fn: () => void) => {
    pending = pending.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            if (!stopped) fn();
            resolve();
          }),
        ),
    );
  };

  return {
    onChange(change) {
      const { metadata } = change.object;
      if (change.key === 'namespaces') {
        if (change.type === 'DELETED' || !metadata.deletionTimestamp) return;
        queue(() => emptyNamespace(metadata.name!));
        queue(() => tolerate(() => verbs.finishNamespace(metadata.name!)));
        return;
      }
      if (change.type !== 'DELETED') return;
      const uid = metadata.uid;
      if (uid) queue(() => sweepDependents(uid));
      const namespace = metadata.namespace;
      if (namespace) queue(() => tolerate(() => verbs.finishNamespace(namespace)));
    },
    idle: async () => {
      let seen: Promise<void>;
      do {
        seen = pending;
        await seen;
      } while (seen !== pending);
    },
    stop() {
      stopped = true;
    },
  };
}
