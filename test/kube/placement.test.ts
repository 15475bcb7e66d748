import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, type V1PodSpec } from '@kubernetes/client-node';
import { type KubeObject, type KubeStandin, startKubeStandin } from './index.ts';
import { statusOf, waitFor } from './testing.ts';

let api: KubeStandin;
let apps: AppsV1Api;
let core: CoreV1Api;

function node(name: string, labels: Record<string, string> = {}, spec: object = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: { ...spec },
    status: {
      addresses: [{ type: 'InternalIP', address: `198.51.100.${name.length}` }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

function statefulSet(namespace: string, name: string, spec: V1PodSpec) {
  return apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name },
      spec: {
        replicas: 1,
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec },
      },
    },
  });
}

const sender = (port: number, extra: Partial<V1PodSpec> = {}): V1PodSpec => ({
  containers: [
    {
      name: 'sender',
      image: 'hikyaku',
      ports: [{ name: 'metrics', containerPort: port }],
      securityContext: {
        allowPrivilegeEscalation: false,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      },
    },
  ],
  ...extra,
});

const pinned = (nodeName: string): Partial<V1PodSpec> => ({
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] },
        ],
      },
    },
  },
});

const pod = (namespace: string, name: string) =>
  waitFor(`pod ${namespace}/${name}`, () => api.store.get('pods', namespace, name));

const placed = (namespace: string, name: string) =>
  waitFor(`pod ${namespace}/${name} placed or refused`, () => {
    const p = api.store.get('pods', namespace, name);
    const phase = (p?.status as { phase?: string } | undefined)?.phase;
    return phase === 'Running' || phase === 'Pending' ? p : undefined;
  });

const nodeOf = (p: KubeObject) => (p.spec as { nodeName?: string }).nodeName;
const scheduled = (p: KubeObject) =>
  (
    p.status as { conditions: { type: string; status: string; message?: string }[] }
  ).conditions.find((c) => c.type === 'PodScheduled');

before(async () => {
  api = await startKubeStandin({ simulatePods: true, controllerDelayMs: 5 });
  apps = api.kubeConfig().makeApiClient(AppsV1Api);
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  api.store.put(node('egress-a', { 'hikyaku.io/egress': 'true' }));
  api.store.put(node('egress-b', { 'hikyaku.io/egress': 'true' }));
  api.store.put(
    node('tainted', {}, { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
  );
});
after(async () => {
  assert.deepEqual(api.backgroundErrors, []);
  await api.stop();
});

describe('pod placement', () => {
  it('runs a StatefulSet pod on the node its affinity names, with the node as hostIP', async () => {
    await statefulSet('place', 'on-b', sender(9103, pinned('egress-b')));
    const p = await placed('place', 'on-b-0');
    assert.equal(nodeOf(p), 'egress-b');
    assert.equal((p.status as { hostIP?: string }).hostIP, '198.51.100.8');
    const sts = await waitFor('the StatefulSet to count its ready pod', async () => {
      const s = await apps.readNamespacedStatefulSetStatus({ namespace: 'place', name: 'on-b' });
      return s.status?.readyReplicas === 1 ? s : undefined;
    });
    assert.equal(sts.status?.replicas, 1);
  });

  it('keeps a second hostNetwork pod wanting the same port on one node Pending', async () => {
    await statefulSet('place', 'first', sender(9103, { hostNetwork: true, ...pinned('egress-a') }));
    const first = await placed('place', 'first-0');
    assert.equal(nodeOf(first), 'egress-a');
    // The API defaults hostPort to containerPort in the node's network.
    const spec = first.spec as V1PodSpec;
    assert.equal(spec.containers[0]?.ports?.[0]?.hostPort, 9103);

    await statefulSet(
      'place',
      'second',
      sender(9103, { hostNetwork: true, ...pinned('egress-a') }),
    );
    const second = await placed('place', 'second-0');
    assert.equal(nodeOf(second), undefined);
    assert.equal((second.status as { phase: string }).phase, 'Pending');
    assert.equal(scheduled(second)?.status, 'False');
    assert.match(
      scheduled(second)?.message ?? '',
      /^0\/3 nodes are available: .*1 node\(s\) didn't have free ports for the requested pod ports/,
    );

    await statefulSet('place', 'third', sender(9104, { hostNetwork: true, ...pinned('egress-a') }));
    assert.equal(nodeOf(await placed('place', 'third-0')), 'egress-a', 'another port fits');
  });

  it('places by nodeSelector, skips tainted and cordoned nodes, and says why none fits', async () => {
    await statefulSet(
      'place',
      'select',
      sender(9103, { nodeSelector: { 'hikyaku.io/egress': 'true' } }),
    );
    assert.match(nodeOf(await placed('place', 'select-0')) ?? '', /^egress-/);

    await statefulSet('place', 'nowhere', sender(9103, { nodeSelector: { zone: 'moon' } }));
    const nowhere = await placed('place', 'nowhere-0');
    assert.match(
      scheduled(nowhere)?.message ?? '',
      /^0\/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: db\}, 2 node\(s\) didn't match Pod's node affinity\/selector\.$/,
    );

    const a = api.store.get('nodes', undefined, 'egress-a') as KubeObject;
    api.store.put({ ...a, spec: { unschedulable: true } });
    await statefulSet('place', 'cordoned', sender(9200, pinned('egress-a')));
    const cordoned = await placed('place', 'cordoned-0');
    assert.match(scheduled(cordoned)?.message ?? '', /1 node\(s\) were unschedulable/);
    api.store.put({ ...a, spec: {} });
    await waitFor(
      'the pending pod to be placed once the node is uncordoned',
      () => nodeOf(api.store.get('pods', 'place', 'cordoned-0') as KubeObject) === 'egress-a',
    );
  });

  it('replaces the pod of a node that is gone; it waits for a node it may run on', async () => {
    api.store.put(node('short-lived', { pool: 'x' }));
    await statefulSet('place', 'lost', sender(9103, { nodeSelector: { pool: 'x' } }));
    assert.equal(nodeOf(await placed('place', 'lost-0')), 'short-lived');
    api.store.delete('nodes', undefined, 'short-lived');
    await waitFor('the pod to be recreated and left Pending', () => {
      const p = api.store.get('pods', 'place', 'lost-0');
      return p && (p.status as { phase?: string } | undefined)?.phase === 'Pending' ? p : undefined;
    });
  });
});

describe('Pod Security admission', () => {
  before(() => {
    for (const [name, level] of [
      ['psa-baseline', 'baseline'],
      ['psa-restricted', 'restricted'],
    ]) {
      api.store.put({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'pod-security.kubernetes.io/enforce': level as string } },
      });
    }
  });

  it('refuses a hostNetwork pod where baseline is enforced, as the API server does', async () => {
    const status = await statusOf(
      core.createNamespacedPod({
        namespace: 'psa-baseline',
        body: { metadata: { name: 'hostnet' }, spec: sender(9103, { hostNetwork: true }) },
      }),
    );
    assert.equal(status.code, 403);
    assert.equal(status.reason, 'Forbidden');
    assert.equal(
      status.message,
      'pods "hostnet" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), hostPort (container "sender" uses hostPort 9103)',
    );
  });

  it("records the StatefulSet controller's FailedCreate and runs no pod", async () => {
    await statefulSet('psa-baseline', 'hostnet-senders', sender(9103, { hostNetwork: true }));
    const event = await waitFor('a FailedCreate event', () =>
      api.store
        .list('events', 'psa-baseline')
        .find((e) => (e as { reason?: string }).reason === 'FailedCreate'),
    );
    assert.match(
      String(event.message),
      /create Pod hostnet-senders-0 in StatefulSet hostnet-senders failed error: pods "hostnet-senders-0" is forbidden: violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\)/,
    );
    assert.equal(api.store.get('pods', 'psa-baseline', 'hostnet-senders-0'), undefined);
  });

  it('admits a sender pod off the node network under baseline and restricted', async () => {
    for (const namespace of ['psa-baseline', 'psa-restricted']) {
      await statefulSet(namespace, 'attached', sender(9103));
      assert.ok(await pod(namespace, 'attached-0'));
    }
  });

  it('refuses under restricted what baseline allows', async () => {
    const lax = sender(9103);
    delete lax.containers[0]?.securityContext;
    assert.ok(
      await core.createNamespacedPod({
        namespace: 'psa-baseline',
        body: { metadata: { name: 'lax' }, spec: lax },
      }),
    );
    const status = await statusOf(
      core.createNamespacedPod({
        namespace: 'psa-restricted',
        body: { metadata: { name: 'lax' }, spec: lax },
      }),
    );
    assert.equal(status.code, 403);
    assert.match(
      status.message,
      /violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/,
    );
  });
});
