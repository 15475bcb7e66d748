import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, type V1StatefulSet } from '@kubernetes/client-node';
import { type KubeStandin, startKubeStandin } from './index.ts';
import { statusOf, waitFor } from './testing.ts';

const ns = 'crud';
let api: KubeStandin;
let core: CoreV1Api;
let apps: AppsV1Api;

before(async () => {
  api = await startKubeStandin();
  const kc = api.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

after(async () => {
  assert.deepEqual(api.backgroundErrors, []);
  await api.stop();
});

function statefulSet(name: string, replicas = 1): V1StatefulSet {
  return {
    metadata: { name },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      },
    },
  };
}

describe('core objects', () => {
  it('creates, reads, replaces and deletes a ConfigMap with server-owned metadata', async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'one', labels: { app: 'a' } }, data: { k: 'v' } },
    });
    const meta = created.metadata!;
    assert.match(meta.uid!, /^[0-9a-f-]{36}$/);
    assert.ok(meta.creationTimestamp instanceof Date);
    assert.equal(meta.generation, 1);
    assert.equal(meta.namespace, ns);

    const read = await core.readNamespacedConfigMap({ name: 'one', namespace: ns });
    assert.equal(read.data?.k, 'v');
    assert.equal(read.metadata?.resourceVersion, meta.resourceVersion);

    read.data = { k: 'w' };
    const replaced = await core.replaceNamespacedConfigMap({
      name: 'one',
      namespace: ns,
      body: read,
    });
    assert.ok(Number(replaced.metadata!.resourceVersion) > Number(meta.resourceVersion));
    assert.equal(replaced.metadata!.uid, meta.uid);

    await core.deleteNamespacedConfigMap({ name: 'one', namespace: ns });
    const gone = await statusOf(core.readNamespacedConfigMap({ name: 'one', namespace: ns }));
    assert.equal(gone.code, 404);
    assert.equal(gone.reason, 'NotFound');
    assert.equal(gone.message, 'configmaps "one" not found');
    assert.deepEqual(gone.details, { kind: 'configmaps', name: 'one' });
  });

  it('answers 409 AlreadyExists on a duplicate name and generates names', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'dup' } } });
    const status = await statusOf(
      core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'dup' } } }),
    );
    assert.equal(status.code, 409);
    assert.equal(status.reason, 'AlreadyExists');

    const generated = await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { generateName: 'gen-' } },
    });
    assert.match(generated.metadata!.name!, /^gen-[a-z0-9]{5}$/);
  });

  it('answers 409 Conflict when replacing with a stale resourceVersion', async () => {
    const first = await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'stale' }, stringData: { a: '1' } },
    });
    await core.replaceNamespacedSecret({
      name: 'stale',
      namespace: ns,
      body: { ...first, data: {} },
    });
    const status = await statusOf(
      core.replaceNamespacedSecret({ name: 'stale', namespace: ns, body: first }),
    );
    assert.equal(status.code, 409);
    assert.equal(status.reason, 'Conflict');
    assert.match(status.message, /the object has been modified/);
  });

  it('rejects an invalid name with 422 naming metadata.name', async () => {
    const status = await statusOf(
      core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'Not_Valid' } } }),
    );
    assert.equal(status.code, 422);
    assert.equal(status.details?.causes?.[0]?.field, 'metadata.name');
  });

  it('selects by label (=, !=, existence, in) and by metadata.name', async () => {
    const mk = (name: string, labels: Record<string, string>) =>
      core.createNamespacedConfigMap({ namespace: 'sel', body: { metadata: { name, labels } } });
    await mk('a', { tier: 'web', team: 'x' });
    await mk('b', { tier: 'db' });
    await mk('c', {});
    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (await core.listNamespacedConfigMap({ namespace: 'sel', labelSelector, fieldSelector })).items
        .map((i) => i.metadata!.name)
        .sort();
    assert.deepEqual(await names('tier=web'), ['a']);
    assert.deepEqual(await names('tier!=web'), ['b', 'c']);
    assert.deepEqual(await names('tier'), ['a', 'b']);
    assert.deepEqual(await names('!tier'), ['c']);
    assert.deepEqual(await names('tier in (web,db),!team'), ['b']);
    assert.deepEqual(await names(undefined, 'metadata.name=b'), ['b']);
    assert.deepEqual(await names(undefined, 'metadata.name!=b'), ['a', 'c']);
    const list = await core.listNamespacedConfigMap({ namespace: 'sel' });
    assert.equal(list.metadata?.resourceVersion, api.store.resourceVersion());
    const bad = await statusOf(
      core.listNamespacedConfigMap({ namespace: 'sel', fieldSelector: 'data.k=v' }),
    );
    assert.equal(bad.code, 400);
  });

  it('creates a missing namespace on first use', async () => {
    await core.createNamespacedServiceAccount({
      namespace: 'fresh',
      body: { metadata: { name: 'sa' } },
    });
    const nsObj = await core.readNamespace({ name: 'fresh' });
    assert.equal(nsObj.status?.phase ?? 'Active', 'Active');
  });
});

describe('generation and the status subresource', () => {
  it('bumps generation on spec changes only', async () => {
    const created = await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: statefulSet('gen'),
    });
    assert.equal(created.metadata!.generation, 1);
    created.metadata!.labels = { touched: 'yes' };
    const relabelled = await apps.replaceNamespacedStatefulSet({
      name: 'gen',
      namespace: ns,
      body: created,
    });
    assert.equal(relabelled.metadata!.generation, 1);
    relabelled.spec!.replicas = 3;
    const scaled = await apps.replaceNamespacedStatefulSet({
      name: 'gen',
      namespace: ns,
      body: relabelled,
    });
    assert.equal(scaled.metadata!.generation, 2);
  });

  it('ignores .status on the main resource and .spec on /status', async () => {
    const created = await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: statefulSet('split'),
    });
    const viaMain = await apps.replaceNamespacedStatefulSet({
      name: 'split',
      namespace: ns,
      body: { ...created, status: { replicas: 7 } },
    });
    assert.equal(viaMain.status?.replicas, undefined);

    const viaStatus = await apps.replaceNamespacedStatefulSetStatus({
      name: 'split',
      namespace: ns,
      body: {
        ...viaMain,
        spec: { ...viaMain.spec!, replicas: 5 },
        status: { replicas: 1, readyReplicas: 1 },
      },
    });
    assert.equal(viaStatus.status?.readyReplicas, 1);
    assert.equal(viaStatus.spec?.replicas, 1);
    assert.equal(viaStatus.metadata!.generation, 1);
    assert.ok(
      Number(viaStatus.metadata!.resourceVersion) > Number(viaMain.metadata!.resourceVersion),
    );
  });

  it('does not write an update that changes nothing', async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'same' } },
    });
    const again = await core.replaceNamespacedConfigMap({
      name: 'same',
      namespace: ns,
      body: created,
    });
    assert.equal(again.metadata!.resourceVersion, created.metadata!.resourceVersion);
  });
});

describe('deletion', () => {
  it('holds an object with finalizers until they are removed', async () => {
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'held', finalizers: ['hikyaku.io/cleanup'] } },
    });
    await core.deleteNamespacedConfigMap({ name: 'held', namespace: ns });
    const held = await core.readNamespacedConfigMap({ name: 'held', namespace: ns });
    assert.ok(held.metadata!.deletionTimestamp instanceof Date);

    const more = await statusOf(
      core.replaceNamespacedConfigMap({
        name: 'held',
        namespace: ns,
        body: {
          ...held,
          metadata: { ...held.metadata, finalizers: ['hikyaku.io/cleanup', 'other'] },
        },
      }),
    );
    assert.equal(more.code, 422);

    held.metadata!.finalizers = [];
    await core.replaceNamespacedConfigMap({ name: 'held', namespace: ns, body: held });
    const gone = await statusOf(core.readNamespacedConfigMap({ name: 'held', namespace: ns }));
    assert.equal(gone.code, 404);
  });

  it('keeps a deleted namespace Terminating while a finalizer holds something in it', async () => {
    const where = 'doomed';
    await core.createNamespacedConfigMap({
      namespace: where,
      body: { metadata: { name: 'held', finalizers: ['hikyaku.io/cleanup'] } },
    });
    await core.createNamespacedConfigMap({
      namespace: where,
      body: { metadata: { name: 'free' } },
    });
    await core.deleteNamespace({ name: where });
    await api.settle();
    const terminating = await core.readNamespace({ name: where });
    assert.ok(terminating.metadata!.deletionTimestamp instanceof Date);
    assert.equal(terminating.status?.phase, 'Terminating');
    const free = await statusOf(core.readNamespacedConfigMap({ name: 'free', namespace: where }));
    assert.equal(free.code, 404, 'what nothing holds goes at once');
    const held = await core.readNamespacedConfigMap({ name: 'held', namespace: where });
    assert.ok(held.metadata!.deletionTimestamp instanceof Date);
    const refused = await statusOf(
      core.createNamespacedConfigMap({ namespace: where, body: { metadata: { name: 'late' } } }),
    );
    assert.equal(refused.code, 403);
    assert.match(refused.message ?? '', /because it is being terminated/);

    held.metadata!.finalizers = [];
    await core.replaceNamespacedConfigMap({ name: 'held', namespace: where, body: held });
    await api.settle();
    const gone = await statusOf(core.readNamespace({ name: where }));
    assert.equal(gone.code, 404, 'the namespace goes with its last object');
  });

  it('collects dependents whose ownerReferences name a deleted owner', async () => {
    const owner = await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: statefulSet('owner'),
    });
    const ref = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name: 'owner',
      uid: owner.metadata!.uid!,
      controller: true,
    };
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'dep', ownerReferences: [ref] } },
    });
    const other = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'other-owner' } },
    });
    const otherRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'other-owner', uid: 'later' };
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'shared', ownerReferences: [ref, otherRef] } },
    });
    await core.patchNamespacedConfigMap({
      name: 'shared',
      namespace: ns,
      body: [
        { op: 'replace', path: '/metadata/ownerReferences/1/uid', value: other.metadata!.uid },
      ],
    });

    await apps.deleteNamespacedStatefulSet({ name: 'owner', namespace: ns });
    await api.settle();
    assert.equal(api.store.get('secrets', ns, 'dep'), undefined);
    const shared = api.store.get('configmaps', ns, 'shared');
    assert.deepEqual(
      shared?.metadata.ownerReferences?.map((r) => r.name),
      ['other-owner'],
      'a dependent with another owner alive loses only the dangling reference',
    );
    await core.deleteNamespacedConfigMap({ name: 'other-owner', namespace: ns });
    await waitFor('the last owner to take its dependent along', () => {
      return api.store.get('configmaps', ns, 'shared') === undefined;
    });
  });

  it('orphans dependents when asked to', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'parent' } },
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name: 'orphan',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'parent', uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({
      name: 'parent',
      namespace: ns,
      propagationPolicy: 'Orphan',
    });
    await api.settle();
    const orphan = api.store.get('secrets', ns, 'orphan');
    assert.ok(orphan);
    assert.equal(orphan.metadata.ownerReferences, undefined);
  });
});
