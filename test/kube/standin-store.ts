/**
 * Direct access to the stand-in's objects for test set-up and assertions. Writes go
 * through the same API semantics as HTTP requests (validation, generation, watch events)
 * but skip optimistic concurrency, and `put` may set `.status` in the same call.
 */
import { clone, type KubeObject } from './object.ts';
import { type ResourceType, storageKey } from './resources.ts';
import type { ApiVerbs } from './verbs.ts';

export interface StandinStore {
  /** `resource` as kubectl names it: `secrets`, `statefulsets.apps`, `relaypools.hikyaku.io`, `Lease`. */
  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  /** Creates or replaces the object named by its apiVersion, kind and metadata, status included. */
  put(obj: KubeObject): KubeObject;
  /** Deletes as a DELETE request does: finalizers still hold the object. */
  delete(resource: string, namespace: string | undefined, name: string): void;
  /** The resourceVersion the next list would report. */
  resourceVersion(): string;
}

export class UnknownResourceError extends Error {
  override readonly name = 'UnknownResourceError';
  readonly code = 'UNKNOWN_RESOURCE';
}

export function createStandinStore(verbs: ApiVerbs): StandinStore {
  const typeNamed = (resource: string): ResourceType => {
    const type = verbs.registry.byName(resource);
    if (!type) throw new UnknownResourceError(`no resource named "${resource}" is served`);
    return type;
  };
  return {
    get(resource, namespace, name) {
      return verbs.find(typeNamed(resource), namespace, name);
    },
    list(resource, namespace) {
      return verbs.store.list(storageKey(typeNamed(resource)), namespace);
    },
    put(obj) {
      const type = verbs.registry.byApiVersionKind(obj.apiVersion ?? '', obj.kind ?? '');
      if (!type) {
        throw new UnknownResourceError(
          `no resource serves ${obj.apiVersion ?? ''} ${obj.kind ?? ''}`,
        );
      }
      const { namespace, name } = obj.metadata;
      const body = clone(obj);
      delete body.metadata.resourceVersion;
      let stored = name ? verbs.find(type, namespace, name) : undefined;
      stored = stored
        ? verbs.replace(type, namespace, name!, body, undefined).object
        : verbs.create(type, namespace, body);
      if (type.statusSubresource && obj.status !== undefined) {
        const withStatus = { ...stored, status: obj.status };
        stored = verbs.replace(type, namespace, stored.metadata.name!, withStatus, 'status').object;
      }
      return stored;
    },
    delete(resource, namespace, name) {
      verbs.remove(typeNamed(resource), namespace, name);
    },
    resourceVersion: () => String(verbs.store.currentRv()),
  };
}
