/**
 * Raw object storage: objects by resource, namespace and name, and the one global
 * resourceVersion counter every write advances (as etcd's revision does). It knows nothing
 * of API semantics; `verbs.ts` decides what to write. Every read hands out a copy, so no
 * caller can change stored state behind the watch history's back.
 */
import { clone, type KubeObject } from './object.ts';
import type { Change } from './watch.ts';

export interface StoredEntry {
  key: string;
  object: KubeObject;
}

function slot(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class ObjectStore {
  private rv = 0;
  private readonly data = new Map<string, Map<string, KubeObject>>();

  constructor(private readonly onChange: (change: Change) => void) {}

  currentRv(): number {
    return this.rv;
  }

  get(key: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.data.get(key)?.get(slot(namespace, name));
    return obj ? clone(obj) : undefined;
  }

  /** Objects of one resource, in one namespace or all, ordered by namespace and name. */
  list(key: string, namespace?: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const [s, obj] of this.data.get(key) ?? []) {
      if (namespace === undefined || s.startsWith(`${namespace}/`)) out.push(clone(obj));
    }
    return out.sort((a, b) =>
      slot(a.metadata.namespace, a.metadata.name ?? '').localeCompare(
        slot(b.metadata.namespace, b.metadata.name ?? ''),
      ),
    );
  }

  /** Every stored object of every resource (copies), for garbage collection sweeps. */
  entries(): StoredEntry[] {
    const out: StoredEntry[] = [];
    for (const [key, objects] of this.data) {
      for (const obj of objects.values()) out.push({ key, object: clone(obj) });
    }
    return out;
  }

  findByUid(uid: string): StoredEntry | undefined {
    for (const [key, objects] of this.data) {
      for (const obj of objects.values()) {
        if (obj.metadata.uid === uid) return { key, object: clone(obj) };
      }
    }
    return undefined;
  }

  /** Stores `obj` under a new resourceVersion and reports the change; returns the stored copy. */
  put(key: string, obj: KubeObject): KubeObject {
    const name = obj.metadata.name ?? '';
    const s = slot(obj.metadata.namespace, name);
    let objects = this.data.get(key);
    if (!objects) {
      objects = new Map();
      this.data.set(key, objects);
    }
    const previous = objects.get(s);
    const stored = clone(obj);
    this.rv += 1;
    stored.metadata.resourceVersion = String(this.rv);
    objects.set(s, stored);
    const change: Change = previous
      ? { type: 'MODIFIED', rv: this.rv, key, object: clone(stored), previous: clone(previous) }
      : { type: 'ADDED', rv: this.rv, key, object: clone(stored) };
    this.onChange(change);
    return clone(stored);
  }

  /**
   * Removes an object; the DELETED event carries its last state (or `finalState`, when the
   * removal is the outcome of an update) at a new resourceVersion.
   */
  remove(
    key: string,
    namespace: string | undefined,
    name: string,
    finalState?: KubeObject,
  ): KubeObject | undefined {
    const objects = this.data.get(key);
    const previous = objects?.get(slot(namespace, name));
    if (!objects || !previous) return undefined;
    objects.delete(slot(namespace, name));
    this.rv += 1;
    const final = clone(finalState ?? previous);
    final.metadata.resourceVersion = String(this.rv);
    this.onChange({ type: 'DELETED', rv: this.rv, key, object: clone(final) });
    return final;
  }
}
