/**
 * The operator's only way to the Kubernetes API. Each call names the access it needs,
 * checked against the access table (access.ts) before it is made; writes other than the
 * Lease are refused unless this replica leads, so a deposed leader cannot write even from a
 * reconcile that was in flight when it lost the Lease. Failures come back as KubeApiError
 * carrying the HTTP status and the Status reason.
 */

import { RELAYPOOL_GROUP, RELAYPOOL_PLURAL, RELAYPOOL_VERSION } from '@hikyaku/core';
import {
  type EventsV1Event,
  type KubeConfig,
  type V1Lease,
  type V1Node,
  type V1Secret,
  type V1StatefulSet,
  Watch,
} from '@kubernetes/client-node';
import { requireAccess, type Verb } from '../access.ts';
import { CILIUM_POLICY, type CiliumEgressGatewayPolicy } from '../desired/egress.ts';
import { KubeApiError, NotLeaderError } from '../errors.ts';
import type { ObjectLike, RelayPoolObject } from './objects.ts';
import { createRest, MERGE_PATCH, type Rest, seg } from './rest.ts';

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
  /** The Secrets the operator made (sender connection Secrets), by label. */
  ownedSecrets: WatchedResource<V1Secret>;
  /** One Secret a pool names, by name: nothing else of its namespace is sent. */
  namedSecret(namespace: string, name: string): WatchedResource<V1Secret>;
  statefulSets: WatchedResource<V1StatefulSet>;
  /** Every node of the cluster (cluster-scoped, whatever namespace is watched). */
  nodes: WatchedResource<V1Node>;
  /** Deletes a pool: it lingers, marked, while finalizers hold it. */
  deletePool(namespace: string, name: string): Promise<void>;
  /** Sets the pool's finalizers, conditional on the resourceVersion. */
  setPoolFinalizers(pool: RelayPoolObject, finalizers: string[]): Promise<RelayPoolObject>;
  patchPoolStatus(namespace: string, name: string, status: object): Promise<RelayPoolObject>;
  readStatefulSet(namespace: string, name: string): Promise<V1StatefulSet | undefined>;
  createStatefulSet(namespace: string, body: V1StatefulSet): Promise<V1StatefulSet>;
  replaceStatefulSet(namespace: string, name: string, body: V1StatefulSet): Promise<V1StatefulSet>;
  /** Deletes it if it is still the version given (absent already: done). */
  deleteStatefulSet(namespace: string, name: string, resourceVersion?: string): Promise<void>;
  /** CiliumEgressGatewayPolicies matching the selector; undefined when Cilium's CRD is not served. */
  listCiliumPolicies(labelSelector: string): Promise<CiliumEgressGatewayPolicy[] | undefined>;
  createCiliumPolicy(body: CiliumEgressGatewayPolicy): Promise<void>;
  replaceCiliumPolicy(body: CiliumEgressGatewayPolicy): Promise<void>;
  deleteCiliumPolicy(name: string): Promise<void>;
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
  /** The label selector of the StatefulSets and Secrets the operator manages. */
  managedSelector: string;
  isLeader: () => boolean;
}

export function createKubeClient(options: KubeClientOptions): KubeClient {
  const kc = options.kubeConfig;
  const rest: Rest = createRest(kc);
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
      // The server's Status (or the network's error), named after the call that failed.
      const detail = (err as Error)?.message ?? String(err);
      if (err instanceof KubeApiError) {
        throw new KubeApiError(`${what}: ${detail}`, err.status, err.apiReason, err);
      }
      const status = (err as { statusCode?: number })?.statusCode ?? 0;
      throw new KubeApiError(`${what}: ${detail}`, status, undefined, err);
    }
  }

  function watched<T extends ObjectLike>(
    group: string,
    resource: string,
    path: string,
    selectors: { labelSelector?: string; fieldSelector?: string } = {},
  ): WatchedResource<T> {
    return {
      name: resource,
      async list() {
        const result = await call(group, resource, 'list', `list ${resource}`, () =>
          rest.get<{ items?: T[]; metadata?: { resourceVersion?: string } }>(path, selectors),
        );
        return {
          items: result.items ?? [],
          resourceVersion: result.metadata?.resourceVersion ?? '',
        };
      },
      watch(query, onEvent, onDone) {
        return call(group, resource, 'watch', `watch ${resource}`, () =>
          watcher.watch(path, { ...query, ...selectors }, onEvent, onDone),
        );
      },
    };
  }

  /** Where a resource's objects are: namespaced or cluster-wide, by API group. */
  const api = (group: string, version: string) =>
    group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  const collection = (prefix: string, plural: string, namespace?: string) =>
    namespace ? `${prefix}/namespaces/${seg(namespace)}/${plural}` : `${prefix}/${plural}`;
  const item = (prefix: string, plural: string, namespace: string, name: string) =>
    `${collection(prefix, plural, namespace)}/${seg(name)}`;

  const POOLS = api(RELAYPOOL_GROUP, RELAYPOOL_VERSION);
  const CORE = api('', 'v1');
  const APPS = api('apps', 'v1');
  const EVENTS = api('events.k8s.io', 'v1');
  const LEASES = api('coordination.k8s.io', 'v1');
  const CILIUM = CILIUM_POLICY.group;
  const CILIUM_API = api(CILIUM, CILIUM_POLICY.version);
  const ciliumItem = (name: string) => `${CILIUM_API}/${CILIUM_POLICY.plural}/${seg(name)}`;
  const labelSelector = options.managedSelector;

  /** A read that finds nothing: undefined instead of a 404. */
  async function orAbsent<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  return {
    pools: watched<RelayPoolObject>(
      RELAYPOOL_GROUP,
      RELAYPOOL_PLURAL,
      collection(POOLS, RELAYPOOL_PLURAL, ns || undefined),
    ),
    ownedSecrets: watched<V1Secret>('', 'secrets', collection(CORE, 'secrets', ns || undefined), {
      labelSelector,
    }),
    namedSecret(namespace, name) {
      return watched<V1Secret>('', 'secrets', collection(CORE, 'secrets', namespace), {
        fieldSelector: `metadata.name=${name}`,
      });
    },
    statefulSets: watched<V1StatefulSet>(
      'apps',
      'statefulsets',
      collection(APPS, 'statefulsets', ns || undefined),
      { labelSelector },
    ),
    nodes: watched<V1Node>('', 'nodes', collection(CORE, 'nodes')),

    async deletePool(namespace, name) {
      await call(RELAYPOOL_GROUP, RELAYPOOL_PLURAL, 'delete', `delete ${namespace}/${name}`, () =>
        rest.delete(item(POOLS, RELAYPOOL_PLURAL, namespace, name)),
      );
    },
    setPoolFinalizers(pool, finalizers) {
      const { namespace, name, resourceVersion } = pool.metadata;
      return call(
        RELAYPOOL_GROUP,
        RELAYPOOL_PLURAL,
        'patch',
        `update finalizers of ${namespace}/${name}`,
        () =>
          rest.patch<RelayPoolObject>(
            item(POOLS, RELAYPOOL_PLURAL, namespace!, name!),
            { metadata: { finalizers, resourceVersion } },
            MERGE_PATCH,
          ),
      );
    },
    patchPoolStatus(namespace, name, status) {
      return call(
        RELAYPOOL_GROUP,
        `${RELAYPOOL_PLURAL}/status`,
        'patch',
        `write status of ${namespace}/${name}`,
        () =>
          rest.patch<RelayPoolObject>(
            `${item(POOLS, RELAYPOOL_PLURAL, namespace, name)}/status`,
            { status },
            MERGE_PATCH,
          ),
      );
    },
    readStatefulSet(namespace, name) {
      return orAbsent(() =>
        call('apps', 'statefulsets', 'get', `read StatefulSet ${namespace}/${name}`, () =>
          rest.get<V1StatefulSet>(item(APPS, 'statefulsets', namespace, name)),
        ),
      );
    },
    createStatefulSet(namespace, body) {
      const what = `create StatefulSet ${namespace}/${body.metadata?.name}`;
      return call('apps', 'statefulsets', 'create', what, () =>
        rest.post<V1StatefulSet>(collection(APPS, 'statefulsets', namespace), body),
      );
    },
    replaceStatefulSet(namespace, name, body) {
      return call('apps', 'statefulsets', 'update', `update StatefulSet ${namespace}/${name}`, () =>
        rest.put<V1StatefulSet>(item(APPS, 'statefulsets', namespace, name), body),
      );
    },
    async deleteStatefulSet(namespace, name, resourceVersion) {
      await orAbsent(() =>
        call('apps', 'statefulsets', 'delete', `delete StatefulSet ${namespace}/${name}`, () =>
          rest.delete(
            item(APPS, 'statefulsets', namespace, name),
            resourceVersion ? { preconditions: { resourceVersion } } : {},
          ),
        ),
      );
    },
    async listCiliumPolicies(selector) {
      const list = await orAbsent(() =>
        call(CILIUM, CILIUM_POLICY.plural, 'list', 'list CiliumEgressGatewayPolicies', () =>
          rest.get<{ items?: CiliumEgressGatewayPolicy[] }>(
            `${CILIUM_API}/${CILIUM_POLICY.plural}`,
            { labelSelector: selector },
          ),
        ),
      );
      return list && (list.items ?? []);
    },
    async createCiliumPolicy(body) {
      const what = `create CiliumEgressGatewayPolicy ${body.metadata.name}`;
      await call(CILIUM, CILIUM_POLICY.plural, 'create', what, () =>
        rest.post(`${CILIUM_API}/${CILIUM_POLICY.plural}`, body),
      );
    },
    async replaceCiliumPolicy(body) {
      const what = `update CiliumEgressGatewayPolicy ${body.metadata.name}`;
      await call(CILIUM, CILIUM_POLICY.plural, 'update', what, () =>
        rest.put(ciliumItem(body.metadata.name), body),
      );
    },
    async deleteCiliumPolicy(name) {
      await orAbsent(() =>
        call(
          CILIUM,
          CILIUM_POLICY.plural,
          'delete',
          `delete CiliumEgressGatewayPolicy ${name}`,
          () => rest.delete(ciliumItem(name)),
        ),
      );
    },
    createSecret(namespace, body) {
      const what = `create Secret ${namespace}/${body.metadata?.name}`;
      return call('', 'secrets', 'create', what, () =>
        rest.post<V1Secret>(collection(CORE, 'secrets', namespace), body),
      );
    },
    replaceSecret(namespace, name, body) {
      return call('', 'secrets', 'update', `update Secret ${namespace}/${name}`, () =>
        rest.put<V1Secret>(item(CORE, 'secrets', namespace, name), body),
      );
    },
    async createEvent(namespace, body) {
      await call('events.k8s.io', 'events', 'create', `record an Event in ${namespace}`, () =>
        rest.post(collection(EVENTS, 'events', namespace), body),
      );
    },
    readLease(namespace, name) {
      return orAbsent(() =>
        call('coordination.k8s.io', 'leases', 'get', `read Lease ${namespace}/${name}`, () =>
          rest.get<V1Lease>(item(LEASES, 'leases', namespace, name)),
        ),
      );
    },
    createLease(namespace, body) {
      return call('coordination.k8s.io', 'leases', 'create', `create Lease ${namespace}`, () =>
        rest.post<V1Lease>(collection(LEASES, 'leases', namespace), body),
      );
    },
    replaceLease(namespace, name, body) {
      return call(
        'coordination.k8s.io',
        'leases',
        'update',
        `renew Lease ${namespace}/${name}`,
        () => rest.put<V1Lease>(item(LEASES, 'leases', namespace, name), body),
      );
    },
  };
}
