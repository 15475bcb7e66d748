/**
 * A Kubernetes API stand-in for the operator's tests: an HTTP server on loopback speaking
 * the Kubernetes REST protocol (JSON) to the unmodified @kubernetes/client-node.
 *
 * ```ts
 * const api = await startKubeStandin({ crdFiles: ['crds/relaypools.hikyaku.io.yaml'] });
 * const core = api.kubeConfig().makeApiClient(CoreV1Api);
 * api.faults.closeWatches();
 * await api.stop();
 * ```
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { admitBuiltin } from './builtins.ts';
import { createCelEnvironment } from './cel.ts';
import { createWorkloadControllers, type ReadinessTarget } from './controllers.ts';
import { establishedStatus, readCrdFiles, resourceTypesFromCrd } from './crd.ts';
import { createFaults, type Faults, type RequestInfo } from './faults.ts';
import { createGarbageCollector } from './gc.ts';
import { makeKubeConfig, writeKubeconfigFile } from './kubeconfig.ts';
import { type KubeObject, timestamp } from './object.ts';
import { createPodPlacement } from './placement.ts';
import { admitPodSecurity, defaultHostPorts } from './pod-security.ts';
import { ResourceRegistry, storageKey } from './resources.ts';
import { createRequestHandler } from './server.ts';
import { createStandinStore, type StandinStore } from './standin-store.ts';
import { ObjectStore } from './store.ts';
import { createObjectValidatorFactory } from './validation.ts';
import { ApiVerbs } from './verbs.ts';
import { type Change, WatchHub } from './watch.ts';

export type { StatusBody, StatusCause } from './errors.ts';
export { KubeStatusError } from './errors.ts';
export type { FailRequestsOptions, Faults, RequestInfo } from './faults.ts';
export type { KubeObject } from './object.ts';
export type { StandinStore } from './standin-store.ts';
export type { ReadinessTarget };

export interface KubeStandinOptions {
  /** CRD YAML files to serve from the start (CRDs may also be created through the API). */
  crdFiles?: string[];
  /** Run the StatefulSet/Deployment status controller (off by default). */
  simulateControllers?: boolean;
  /**
   * StatefulSets get pods, placed on the Nodes in the store as the scheduler would
   * (placement.ts); implies simulateControllers.
   */
  simulatePods?: boolean;
  /** Delay before the controller reports a change, in ms (25 by default). */
  controllerDelayMs?: number;
  /** Require `Authorization: Bearer <token>`; the kubeconfig carries it. */
  token?: string;
  /** Watch history kept for resuming (10000 changes by default). */
  watchHistoryLimit?: number;
  /** Interval of BOOKMARK events on watches that allow them, in ms (1000 by default). */
  bookmarkIntervalMs?: number;
}

export interface KubeStandin {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** A client configuration for this server; `namespace` sets the context's default. */
  kubeConfig(namespace?: string): KubeConfig;
  writeKubeconfig(path: string, namespace?: string): Promise<void>;
  readonly faults: Faults;
  readonly controllers: { setReady(ready: boolean, target?: ReadinessTarget): void };
  /** Direct access to stored objects, bypassing HTTP (but not API semantics). */
  readonly store: StandinStore;
  /** Every request served so far, in order (health checks aside): what a client did. */
  readonly requests: RequestInfo[];
  /** Number of watch streams open now (to wait for a client to be watching). */
  openWatches(): number;
  /** Resolves when garbage collection queued so far has run. */
  settle(): Promise<void>;
  /** Failures in background work (GC, controllers); a test may assert it stays empty. */
  readonly backgroundErrors: unknown[];
  stop(): Promise<void>;
}

export async function startKubeStandin(options: KubeStandinOptions = {}): Promise<KubeStandin> {
  const registry = new ResourceRegistry();
  const listeners: ((c: Change) => void)[] = [];
  const store = new ObjectStore((c) => {
    for (const l of listeners) l(c);
  });
  const hub = new WatchHub({
    historyLimit: options.watchHistoryLimit ?? 10_000,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
    currentRv: () => store.currentRv(),
  });
  const verbs = new ApiVerbs(store, registry);
  const backgroundErrors: unknown[] = [];
  const onError = (err: unknown) => backgroundErrors.push(err);
  const gc = createGarbageCollector(verbs, onError);
  const controllers = createWorkloadControllers(verbs, {
    delayMs: options.controllerDelayMs ?? 25,
    onError,
    ...(options.simulatePods ? { placement: createPodPlacement(verbs) } : {}),
  });
  const makeValidator = createObjectValidatorFactory(createCelEnvironment());

  verbs.onAdmit(admitBuiltin);
  const podType = registry.lookup('', 'v1', 'pods')!;
  const nsType = registry.lookup('', 'v1', 'namespaces')!;
  verbs.onAdmit((type, next, old) => {
    if (type !== podType) return;
    defaultHostPorts(next);
    if (!old) admitPodSecurity(next, verbs.find(nsType, undefined, next.metadata.namespace ?? ''));
  });
  const crdType = registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
  verbs.onAdmit((type, next) => {
    if (type !== crdType) return;
    resourceTypesFromCrd(next, makeValidator);
    next.status ??= establishedStatus(next, timestamp());
  });
  const syncCrd = (c: Change) => {
    if (c.key !== storageKey(crdType)) return;
    const name = c.object.metadata.name!;
    if (c.type !== 'DELETED') {
      registry.setCustom(name, resourceTypesFromCrd(c.object, makeValidator));
      return;
    }
    const key = registry.versionsOf(name)[0] ? name : undefined;
    registry.removeCustom(name);
    // The instances go with their definition, after the CRD's own DELETED event.
    if (key) setImmediate(() => dropAll(key));
  };
  const dropAll = (key: string) => {
    for (const obj of store.list(key))
      store.remove(key, obj.metadata.namespace, obj.metadata.name!);
  };

  listeners.push((c) => hub.record(c), gc.onChange, syncCrd);
  if (options.simulateControllers || options.simulatePods) listeners.push(controllers.onChange);

  for (const crd of await readCrdFiles(options.crdFiles ?? [])) {
    verbs.create(crdType, undefined, crd as KubeObject);
  }

  const faults = createFaults(hub);
  const requests: RequestInfo[] = [];
  const server = createServer(
    createRequestHandler({
      verbs,
      registry,
      hub,
      faults,
      token: options.token,
      onRequest: (r) => requests.push(r),
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const clientOptions = (namespace?: string) => ({ server: url, token: options.token, namespace });

  return {
    url,
    kubeConfig: (namespace) => makeKubeConfig(clientOptions(namespace)),
    writeKubeconfig: (path, namespace) => writeKubeconfigFile(path, clientOptions(namespace)),
    faults,
    controllers,
    store: createStandinStore(verbs),
    requests,
    openWatches: () => hub.openWatches,
    settle: () => gc.idle(),
    backgroundErrors,
    async stop() {
      controllers.stop();
      gc.stop();
      hub.closeAll();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
