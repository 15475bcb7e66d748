import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CoreV1Api,
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  type V1ConfigMap,
  Watch,
} from '@kubernetes/client-node';
import { type KubeStandin, startKubeStandin } from './index.ts';
import { waitFor } from './testing.ts';

interface Event {
  type: string;
  object: { kind?: string; code?: number; metadata?: { name?: string; resourceVersion?: string } };
}

let api: KubeStandin;
let kc: KubeConfig;
let core: CoreV1Api;

before(async () => {
  api = await startKubeStandin({ bookmarkIntervalMs: 50 });
  kc = api.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
});
after(() => api.stop());

/** Watches `path` and collects events until the stream ends. */
async function collect(path: string, query: Record<string, string | number | boolean | undefined>) {
  const events: Event[] = [];
  let ended = false;
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, object) => events.push({ type, object }),
    () => {
      ended = true;
    },
  );
  return { events, ended: () => ended, abort: () => controller.abort() };
}

const mapsPath = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`;

function createMap(ns: string, name: string, labels: Record<string, string> = {}) {
  return core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels } } });
}

describe('watch streams', () => {
  it('resumes from a resourceVersion with the changes after it', async () => {
    const first = await createMap('w1', 'a');
    await core.patchNamespacedConfigMap({
      name: 'a',
      namespace: 'w1',
      body: [{ op: 'add', path: '/data', value: { k: 'v' } }],
    });
    await createMap('other', 'not-mine');
    const w = await collect(mapsPath('w1'), { resourceVersion: first.metadata!.resourceVersion });
    await createMap('w1', 'b');
    await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'w1' });
    await waitFor('three events', () => w.events.length >= 3);
    w.abort();
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.object.metadata?.name}`),
      ['MODIFIED a', 'ADDED b', 'DELETED a'],
    );
    assert.equal(w.events[0]!.object.kind, 'ConfigMap');
    const rvs = w.events.map((e) => Number(e.object.metadata?.resourceVersion));
    assert.deepEqual(
      rvs,
      [...rvs].sort((x, y) => x - y),
    );
  });

  it('starts with ADDED events for existing objects when no resourceVersion is given', async () => {
    await createMap('w2', 'x');
    const w = await collect(mapsPath('w2'), {});
    await waitFor('the initial event', () => w.events.length >= 1);
    w.abort();
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.object.metadata?.name}`),
      ['ADDED x'],
    );
  });

  it('sends an ERROR event with a 410 Status for a compacted resourceVersion, then ends', async () => {
    const old = await createMap('w3', 'old');
    await createMap('w3', 'newer');
    api.faults.compactHistory();
    const w = await collect(mapsPath('w3'), { resourceVersion: old.metadata!.resourceVersion });
    await waitFor('the stream to end', () => w.ended());
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0]!.type, 'ERROR');
    assert.equal(w.events[0]!.object.code, 410);
    assert.equal(w.events[0]!.object.kind, 'Status');
  });

  it('reports objects entering and leaving a label selector as ADDED and DELETED', async () => {
    await createMap('w4', 's', { role: 'sender' });
    const w = await collect(mapsPath('w4'), {
      resourceVersion: api.store.resourceVersion(),
      labelSelector: 'role=sender',
    });
    const relabel = (role: string) =>
      core.patchNamespacedConfigMap({
        name: 's',
        namespace: 'w4',
        body: [{ op: 'replace', path: '/metadata/labels/role', value: role }],
      });
    await relabel('idle');
    await relabel('sender');
    await waitFor('two events', () => w.events.length >= 2);
    w.abort();
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['DELETED', 'ADDED'],
    );
  });

  it('sends bookmarks when asked and ends at timeoutSeconds', async () => {
    const w = await collect(mapsPath('w5'), {
      resourceVersion: api.store.resourceVersion(),
      allowWatchBookmarks: true,
      timeoutSeconds: 1,
    });
    await waitFor('a bookmark', () => w.events.some((e) => e.type === 'BOOKMARK'));
    const bookmark = w.events.find((e) => e.type === 'BOOKMARK')!;
    assert.equal(bookmark.object.metadata?.resourceVersion, api.store.resourceVersion());
    await waitFor('the timeout', () => w.ended(), 3000);
  });
});

describe('informers', () => {
  interface Harness {
    informer: Informer<V1ConfigMap> & ObjectCache<V1ConfigMap>;
    lists: () => number;
    errors: unknown[];
    names: () => string[];
    stop: () => Promise<void>;
  }

  /** An informer restarted after errors, the way an operator has to run one. */
  async function startInformer(ns: string): Promise<Harness> {
    let lists = 0;
    const errors: unknown[] = [];
    const informer = makeInformer<V1ConfigMap>(kc, mapsPath(ns), () => {
      lists++;
      return core.listNamespacedConfigMap({ namespace: ns });
    });
    let stopped = false;
    informer.on('error', (err) => {
      // stop() aborts the watch, which client-node reports as an error too.
      if (stopped) return;
      errors.push(err);
      setTimeout(() => {
        if (!stopped) void informer.start();
      }, 20);
    });
    await informer.start();
    await waitFor('the informer to watch', () => api.openWatches() > 0);
    const names = () =>
      informer
        .list(ns)
        .map((o) => o.metadata!.name!)
        .sort();
    const stop = async () => {
      stopped = true;
      await informer.stop();
    };
    return { informer, lists: () => lists, errors, names, stop };
  }

  it('resumes after the server closes its watch, without listing again', async () => {
    await createMap('i1', 'before');
    const h = await startInformer('i1');
    try {
      assert.deepEqual(h.names(), ['before']);
      api.faults.closeWatches();
      await createMap('i1', 'after');
      await waitFor('the new object', () => h.names().includes('after'));
      assert.equal(h.lists(), 1);
      assert.deepEqual(h.errors, []);
    } finally {
      await h.stop();
    }
  });

  it('recovers after a stretch of 500s, catching up with what changed', async () => {
    await createMap('i2', 'one');
    const h = await startInformer('i2');
    try {
      api.faults.failRequests({ status: 500, count: 3, match: (r) => r.method === 'GET' });
      api.faults.closeWatches();
      await createMap('i2', 'two');
      await waitFor('the informer to catch up', () => h.names().includes('two'));
      assert.ok(h.errors.length >= 1, 'the failures reached the informer');
      assert.equal((h.errors[0] as { statusCode?: number }).statusCode, 500);
    } finally {
      api.faults.clear();
      await h.stop();
    }
  });

  it('lists again after a 410 and drops what was deleted meanwhile', async () => {
    await createMap('i3', 'stays');
    await createMap('i3', 'goes');
    const h = await startInformer('i3');
    const deleted: string[] = [];
    h.informer.on('delete', (o) => deleted.push(o.metadata!.name!));
    try {
      const watchesOnly = (r: { watch: boolean }) => r.watch;
      api.faults.failRequests({ forMs: 150, match: watchesOnly });
      api.faults.closeWatches();
      api.store.delete('configmaps', 'i3', 'goes');
      await createMap('i3', 'new');
      api.faults.compactHistory();
      await waitFor('the relist', () => h.names().join() === 'new,stays');
      assert.equal(h.lists(), 2);
      assert.deepEqual(deleted, ['goes']);
    } finally {
      await h.stop();
    }
  });
});
