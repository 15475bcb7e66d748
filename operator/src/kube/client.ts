/**
 * The operator's only way to the Kubernetes API. Each call names the access it needs,
 * checked against the access table (access.ts) before it is made; writes other than the
 * Lease are refused unless this replica leads, so a deposed leader cannot write even from a
 * reconcile that was in flight when it lost the Lease. Failures come back as KubeApiError
 * carrying the HTTP status and the Status reason.
 */

import { RELAYPOOL_GROUP, RELAYPOOL_PLURAL, RELAYPOOL_VERSION } from '@hikyaku/core';
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type EventsV1Event,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  type V1Secret,
  type V1StatefulSet,
  Watch,
} from '@kubernetes/client-node';
import { requireAccess, type Verb } from '../access.ts';
import { KubeApiError, NotLeaderError } from '../errors.ts';
import type { ObjectLike, RelayPoolObject } from './objects.ts';

export interface ObjectList<T> {
  items: T[];
  resourceVersion: string;
}

export type WatchEventHandler = (type: string, object: ObjectLike & { code?: number }) => void;

/** A watched resource: where it is listed and watched, in one namespace or in all. */
export interface WatchedResource<T extends ObjectLike> {
  /** e.g. `relaypools`, for logs and metrics. */
  name: string;
  list(): Promise<ObjectList<T>>;
  /** Starts a watch; resolves once the server answered (the stream then runs). */
  watch(
    query: Record<string, string | number | boolean>,
    onEvent: WatchEventHandler,
    onDone: (err: unknown) => void,
  ): Promise<AbortController>;
}

export interface KubeClient {
  pools: WatchedResource<RelayPoolObject>;
  secrets: WatchedResource<V1Secret>;
  statefulSets: WatchedResource<V1StatefulSet>;
  /** Sets the pool's finalizers, conditional on the resourceVersion. */
  setPoolFinalizers(pool: RelayPoolObject, finalizers: string[]): Promise<RelayPoolObject>;
  patchPoolStatus(namespace: string, name: string, status: object): Promise<RelayPoolObject>;
  readStatefulSet(namespace: string, name: string): Promise<V1StatefulSet | undefined>;
  createStatefulSet(namespace: string, body: V1StatefulSet): Promise<V1StatefulSet>;
  replaceStatefulSet(namespace: string, name: string, body: V1StatefulSet): Promise<V1StatefulSet>;
  createSecret(namespace: string, body: V1Secret): Promise<V1Secret>;
  replaceSecret(namespace: string, name: string, body: V1Secret): Promise<V1Secret>;
  createEvent(namespace: string, body: EventsV1Event): Promise<void>;
  /** The Lease, or undefined when there is none. */
  readLease(namespace: string, name: string): Promise<V1Lease | undefined>;
  createLease(namespace: string, body: V1Lease): Promise<V1Lease>;
  replaceLease(namespace: string, name: string, body: V1Lease): Promise<V1Lease>;
}

export interface KubeClientOptions {
  kubeConfig: KubeConfig;
  /** '' = every namespace. */
  namespace: string;
  /** The label selector of the StatefulSets the operator manages. */
  statefulSetSelector: string;
  isLeader: () => boolean;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The Status body of a failed call, when the server sent one. */
function statusBody(err: ApiException<unknown>): { reason?: string; message?: string } {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as { reason?: string; message?: string };
    } catch {
      return { message: body.slice(0, 200) };
    }
  }
  return typeof body === 'object' && body !== null ? (body as { reason?: string }) : {};
}

function kubeError(what: string, err: unknown): KubeApiError {
  if (err instanceof ApiException) {
    const status = statusBody(err);
    const detail = status.message ?? `HTTP ${err.code}`;
    return new KubeApiError(`${what}: ${detail}`, err.code, status.reason, err);
  }
  const e = err as { statusCode?: number; message?: string };
  return new KubeApiError(
    `${what}: ${e?.message ?? String(err)}`,
    e?.statusCode ?? 0,
    undefined,
    err,
  );
}

/** Plain JSON, as a watch delivers it: typed list results carry Date objects instead. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function createKubeClient(options: KubeClientOptions): KubeClient {
  const kc = options.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const events = kc.makeApiClient(EventsV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const watcher = new Watch(kc);
  const ns = options.namespace;

  async function call<T>(
    group: string,
    resource: string,
    verb: Verb,
    what: string,
    run: () => Promise<T>,
  ): Promise<T> {
    requireAccess(group, resource, verb);
    const isWrite = verb !== 'get' && verb !== 'list' && verb !== 'watch';
    if (isWrite && resource !== 'leases' && !options.isLeader()) throw new NotLeaderError(what);
    try {
      return await run();
    } catch (err) {
      throw kubeError(what, err);
    }
  }

  function watched<T extends ObjectLike>(
    group: string,
    resource: string,
    path: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
    selector?: string,
  ): WatchedResource<T> {
    return {
      name: resource,
      async list() {
        const result = await call(group, resource, 'list', `list ${resource}`, list);
        return {
          items: plain(result.items),
          resourceVersion: result.metadata?.resourceVersion ?? '',
        };
      },
      watch(query, onEvent, onDone) {
        const q = selector ? { ...query, labelSelector: selector } : query;
        return call(group, resource, 'watch', `watch ${resource}`, () =>
          watcher.watch(path, q, onEvent, onDone),
        );
      },
    };
  }

  const poolsPath = ns
    ? `/apis/${RELAYPOOL_GROUP}/${RELAYPOOL_VERSION}/namespaces/${ns}/${RELAYPOOL_PLURAL}`
    : `/apis/${RELAYPOOL_GROUP}/${RELAYPOOL_VERSION}/${RELAYPOOL_PLURAL}`;
  const poolRef = { group: RELAYPOOL_GROUP, version: RELAYPOOL_VERSION, plural: RELAYPOOL_PLURAL };
  const selector = options.statefulSetSelector;

  return {
    pools: watched<RelayPoolObject>(RELAYPOOL_GROUP, RELAYPOOL_PLURAL, poolsPath, () =>
      ns
        ? custom.listNamespacedCustomObject({ ...poolRef, namespace: ns })
        : custom.listCustomObjectForAllNamespaces(poolRef),
    ),
    secrets: watched<V1Secret>(
      '',
      'secrets',
      ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets',
      () => (ns ? core.listNamespacedSecret({ namespace: ns }) : core.listSecretForAllNamespaces()),
    ),
    statefulSets: watched<V1StatefulSet>(
      'apps',
      'statefulsets',
      ns ? `/apis/apps/v1/namespaces/${ns}/statefulsets` : '/apis/apps/v1/statefulsets',
      () =>
        ns
          ? apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: selector })
          : apps.listStatefulSetForAllNamespaces({ labelSelector: selector }),
      selector,
    ),

    setPoolFinalizers(pool, finalizers) {
      const { namespace, name, resourceVersion } = pool.metadata;
      return call(
        RELAYPOOL_GROUP,
        RELAYPOOL_PLURAL,
        'patch',
        `update finalizers of ${namespace}/${name}`,
        () =>
          custom.patchNamespacedCustomObject(
            {
              ...poolRef,
              namespace: namespace!,
              name: name!,
              body: { metadata: { finalizers, resourceVersion } },
            },
            mergePatch,
          ),
      ) as Promise<RelayPoolObject>;
    },
    patchPoolStatus(namespace, name, status) {
      return call(
        RELAYPOOL_GROUP,
        `${RELAYPOOL_PLURAL}/status`,
        'patch',
        `write status of ${namespace}/${name}`,
        () =>
          custom.patchNamespacedCustomObjectStatus(
            { ...poolRef, namespace, name, body: { status } },
            mergePatch,
          ),
      ) as Promise<RelayPoolObject>;
    },
    async readStatefulSet(namespace, name) {
      try {
        return await call(
          'apps',
          'statefulsets',
          'get',
          `read StatefulSet ${namespace}/${name}`,
          () => apps.readNamespacedStatefulSet({ namespace, name }),
        );
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    createStatefulSet(namespace, body) {
      const what = `create StatefulSet ${namespace}/${body.metadata?.name}`;
      return call('apps', 'statefulsets', 'create', what, () =>
        apps.createNamespacedStatefulSet({ namespace, body }),
      );
    },
    replaceStatefulSet(namespace, name, body) {
      return call('apps', 'statefulsets', 'update', `update StatefulSet ${namespace}/${name}`, () =>
        apps.replaceNamespacedStatefulSet({ namespace, name, body }),
      );
    },
    createSecret(namespace, body) {
      const what = `create Secret ${namespace}/${body.metadata?.name}`;
      return call('', 'secrets', 'create', what, () =>
        core.createNamespacedSecret({ namespace, body }),
      );
    },
    replaceSecret(namespace, name, body) {
      return call('', 'secrets', 'update', `update Secret ${namespace}/${name}`, () =>
        core.replaceNamespacedSecret({ namespace, name, body }),
      );
    },
    async createEvent(namespace, body) {
      await call('events.k8s.io', 'events', 'create', `record an Event in ${namespace}`, () =>
        events.createNamespacedEvent({ namespace, body }),
      );
    },
    async readLease(namespace, name) {
      try {
        return await call(
          'coordination.k8s.io',
          'leases',
          'get',
          `read Lease ${namespace}/${name}`,
          () => coordination.readNamespacedLease({ namespace, name }),
        );
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    createLease(namespace, body) {
      return call('coordination.k8s.io', 'leases', 'create', `create Lease ${namespace}`, () =>
        coordination.createNamespacedLease({ namespace, body }),
      );
    },
    replaceLease(namespace, name, body) {
      return call(
        'coordination.k8s.io',
        'leases',
        'update',
        `renew Lease ${namespace}/${name}`,
        () => coordination.replaceNamespacedLease({ namespace, name, body }),
      );
    },
  };
}
