import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { type KubeStandin, startKubeStandin } from './index.ts';
import { waitFor } from './testing.ts';

const ns = 'ctl';
let api: KubeStandin;
let apps: AppsV1Api;

before(async () => {
  api = await startKubeStandin({ simulateControllers: true, controllerDelayMs: 5 });
  apps = api.kubeConfig().makeApiClient(AppsV1Api);
});
after(async () => {
  assert.deepEqual(api.backgroundErrors, []);
  await api.stop();
});

const template = (app: string) => ({
  selector: { matchLabels: { app } },
  template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
});

const readSet = (name: string) => apps.readNamespacedStatefulSetStatus({ name, namespace: ns });

describe('workload controller', () => {
  it('reports a StatefulSet ready and catches observedGeneration up after a change', async () => {
    await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'senders' },
        spec: { replicas: 2, serviceName: 'senders', ...template('s') },
      },
    });
    const ready = await waitFor('two ready replicas', async () => {
      const s = await readSet('senders');
      return s.status?.readyReplicas === 2 && s;
    });
    assert.equal(ready.status?.observedGeneration, 1);
    assert.equal(ready.status?.replicas, 2);

    const scaled = await apps.replaceNamespacedStatefulSet({
      name: 'senders',
      namespace: ns,
      body: { ...ready, spec: { ...ready.spec!, replicas: 3 } },
    });
    assert.equal(scaled.metadata?.generation, 2);
    const caught = await waitFor('observedGeneration 2', async () => {
      const s = await readSet('senders');
      return s.status?.observedGeneration === 2 && s;
    });
    assert.equal(caught.status?.readyReplicas, 3);
  });

  it('reports no ready replicas while readiness is off, for all or for one workload', async () => {
    await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'other' },
        spec: { replicas: 1, serviceName: 'other', ...template('o') },
      },
    });
    await waitFor('other ready', async () => (await readSet('other')).status?.readyReplicas === 1);

    api.controllers.setReady(false);
    await waitFor('nothing ready', async () => {
      const [a, b] = await Promise.all([readSet('senders'), readSet('other')]);
      return a.status?.readyReplicas === undefined && b.status?.readyReplicas === undefined;
    });
    assert.equal((await readSet('senders')).status?.replicas, 3);

    api.controllers.setReady(true, { kind: 'StatefulSet', namespace: ns, name: 'other' });
    await waitFor(
      'only other ready',
      async () => (await readSet('other')).status?.readyReplicas === 1,
    );
    assert.equal((await readSet('senders')).status?.readyReplicas, undefined);
    api.controllers.setReady(true);
    await waitFor(
      'all ready again',
      async () => (await readSet('senders')).status?.readyReplicas === 3,
    );
  });

  it('marks a Deployment Available', async () => {
    const body: V1Deployment = {
      metadata: { name: 'ingress' },
      spec: { replicas: 2, ...template('i') },
    };
    await apps.createNamespacedDeployment({ namespace: ns, body });
    const d = await waitFor('an available deployment', async () => {
      const read = await apps.readNamespacedDeployment({ name: 'ingress', namespace: ns });
      return read.status?.availableReplicas === 2 && read;
    });
    assert.equal(d.status?.conditions?.find((c) => c.type === 'Available')?.status, 'True');
  });
});

describe('kubeconfig file', () => {
  it('points a client that loads it at the stand-in', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hikyaku-kube-'));
    try {
      const path = join(dir, 'config');
      await api.writeKubeconfig(path, 'mail');
      const kc = new KubeConfig();
      kc.loadFromFile(path);
      assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, 'mail');
      const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace();
      assert.ok(namespaces.items.some((n) => n.metadata?.name === ns));
      assert.match(await readFile(path, 'utf8'), /insecure-skip-tls-verify: true/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
