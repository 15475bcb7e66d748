import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { type KubeStandin, startKubeStandin } from './index.ts';
import { jsonPatch, mergePatch } from './patch.ts';
import { statusOf } from './testing.ts';

describe('patch documents', () => {
  it('merge patch merges objects, deletes on null and replaces lists', () => {
    const target = { a: { b: 1, c: 2 }, l: [1, 2], keep: true };
    assert.deepEqual(mergePatch(target, { a: { b: null, d: 3 }, l: [3] }), {
      a: { c: 2, d: 3 },
      l: [3],
      keep: true,
    });
  });

  it('json patch applies every operation and fails a failed test', () => {
    const doc = { a: [1, 2], b: { c: 'x' } };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'replace', path: '/b/c', value: 'y' },
      { op: 'copy', from: '/b/c', path: '/d' },
      { op: 'move', from: '/d', path: '/e' },
      { op: 'remove', path: '/a/0' },
      { op: 'test', path: '/e', value: 'y' },
    ]);
    assert.deepEqual(out, { a: [2, 3], b: { c: 'y' }, e: 'y' });
    assert.deepEqual(doc, { a: [1, 2], b: { c: 'x' } }, 'the target is not changed');
    assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/b/c', value: 'no' }]), {
      code: 'Invalid',
    });
  });
});

describe('PATCH through client-node', () => {
  const ns = 'patch';
  let api: KubeStandin;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  before(async () => {
    api = await startKubeStandin();
    core = api.kubeConfig().makeApiClient(CoreV1Api);
    apps = api.kubeConfig().makeApiClient(AppsV1Api);
  });
  after(() => api.stop());

  const createMap = (name: string) =>
    core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name, labels: { a: '1', b: '2' } }, data: { x: '1' } },
    });

  it('sends application/json-patch+json by default', async () => {
    await createMap('json');
    const patched = await core.patchNamespacedConfigMap({
      name: 'json',
      namespace: ns,
      body: [{ op: 'add', path: '/data/y', value: '2' }],
    });
    assert.deepEqual(patched.data, { x: '1', y: '2' });
    const failed = await statusOf(
      core.patchNamespacedConfigMap({
        name: 'json',
        namespace: ns,
        body: [{ op: 'test', path: '/data/x', value: 'nope' }],
      }),
    );
    assert.equal(failed.code, 422);
  });

  it('takes merge and strategic merge patches through a Content-Type header option', async () => {
    await createMap('merge');
    for (const type of [PatchStrategy.MergePatch, PatchStrategy.StrategicMergePatch]) {
      const patched = await core.patchNamespacedConfigMap(
        { name: 'merge', namespace: ns, body: { metadata: { labels: { a: null, c: type } } } },
        setHeaderOptions('Content-Type', type),
      );
      assert.deepEqual(patched.metadata?.labels, { b: '2', c: type });
    }
  });

  it('refuses a merge patch carrying a stale resourceVersion', async () => {
    const created = await createMap('guarded');
    await core.patchNamespacedConfigMap(
      { name: 'guarded', namespace: ns, body: { data: { x: '2' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const status = await statusOf(
      core.patchNamespacedConfigMap(
        {
          name: 'guarded',
          namespace: ns,
          body: {
            metadata: { resourceVersion: created.metadata!.resourceVersion },
            data: { x: '3' },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    assert.equal(status.reason, 'Conflict');
  });

  it('server-side applies, creating the object, and requires a fieldManager', async () => {
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: ns },
      data: { k: 'v' },
    };
    const ssa = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    const missing = await statusOf(
      core.patchNamespacedConfigMap({ name: 'applied', namespace: ns, body }, ssa),
    );
    assert.equal(missing.code, 400);
    assert.match(missing.message, /fieldManager is required/);
    const kindless = await statusOf(
      core.patchNamespacedConfigMap(
        { name: 'applied', namespace: ns, body: { data: { k: 'v' } }, fieldManager: 'm' },
        ssa,
      ),
    );
    assert.equal(kindless.code, 400);

    const created = await core.patchNamespacedConfigMap(
      { name: 'applied', namespace: ns, body, fieldManager: 'hikyaku-operator', force: true },
      ssa,
    );
    assert.equal(created.data?.k, 'v');

    const objects = KubernetesObjectApi.makeApiClient(api.kubeConfig());
    const again = await objects.patch(
      { ...body, data: { k: 'w' } },
      undefined,
      undefined,
      'hikyaku-operator',
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.equal((again as { data?: Record<string, string> }).data?.k, 'w');
  });

  it('patches only .status through /status', async () => {
    const created = await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'c', image: 'x' }] },
          },
        },
      },
    });
    const mergeHeader = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const patched = await apps.patchNamespacedDeploymentStatus(
      { name: 'web', namespace: ns, body: { spec: { replicas: 9 }, status: { replicas: 2 } } },
      mergeHeader,
    );
    assert.equal(patched.status?.replicas, 2);
    assert.equal(patched.spec?.replicas, created.spec?.replicas);
    const main = await apps.patchNamespacedDeployment(
      { name: 'web', namespace: ns, body: { spec: { replicas: 4 }, status: { replicas: 0 } } },
      mergeHeader,
    );
    assert.equal(main.status?.replicas, 2);
    assert.equal(main.metadata?.generation, 2);
  });

  it('answers 415 for any other content type', async () => {
    await createMap('typed');
    for (const type of ['application/json', 'text/plain', 'application/apply-patch+cbor']) {
      const res = await fetch(`${api.url}/api/v1/namespaces/${ns}/configmaps/typed`, {
        method: 'PATCH',
        headers: { 'Content-Type': type },
        body: '{}',
      });
      assert.equal(res.status, 415, type);
      const status = (await res.json()) as { kind: string; reason: string };
      assert.equal(status.kind, 'Status');
      assert.equal(status.reason, 'UnsupportedMediaType');
    }
  });

  it('answers 404 for a patch of a missing object', async () => {
    const status = await statusOf(
      core.patchNamespacedConfigMap(
        { name: 'absent', namespace: ns, body: { data: {} } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    assert.equal(status.code, 404);
  });
});
