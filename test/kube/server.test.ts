import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CoordinationV1Api,
  CoreV1Api,
  EventsV1Api,
  type EventsV1Event,
  KubeConfig,
  V1MicroTime,
} from '@kubernetes/client-node';
import { type KubeStandin, startKubeStandin } from './index.ts';
import { statusOf } from './testing.ts';

const ns = 'wire';
let api: KubeStandin;
let core: CoreV1Api;
let coordination: CoordinationV1Api;

before(async () => {
  api = await startKubeStandin();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  coordination = api.kubeConfig().makeApiClient(CoordinationV1Api);
});

after(() => api.stop());

describe('leases', () => {
  it('behaves as leader election needs: create, replace, 409 on a stale replace', async () => {
    const lease = await coordination.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: 'hikyaku-operator' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: new V1MicroTime() },
      },
    });
    const renewed = await coordination.replaceNamespacedLease({
      name: 'hikyaku-operator',
      namespace: ns,
      body: {
        ...lease,
        spec: { ...lease.spec, holderIdentity: 'a', renewTime: new V1MicroTime() },
      },
    });
    const status = await statusOf(
      coordination.replaceNamespacedLease({
        name: 'hikyaku-operator',
        namespace: ns,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } },
      }),
    );
    assert.equal(status.reason, 'Conflict');
    const read = await coordination.readNamespacedLease({
      name: 'hikyaku-operator',
      namespace: ns,
    });
    assert.equal(read.spec?.holderIdentity, 'a');
    assert.equal(read.metadata?.resourceVersion, renewed.metadata?.resourceVersion);
  });

  it('refuses a millisecond renewTime as a real server does (use V1MicroTime)', async () => {
    const status = await statusOf(
      coordination.createNamespacedLease({
        namespace: ns,
        body: { metadata: { name: 'plain-date' }, spec: { renewTime: new Date() } },
      }),
    );
    assert.equal(status.code, 400);
    assert.match(status.message, /six fractional digits/);
  });
});

describe('secrets', () => {
  it('folds stringData into base64 data and refuses data that is not base64', async () => {
    const created = await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'creds' }, stringData: { password: 'hunter2' } },
    });
    assert.equal(created.data?.password, Buffer.from('hunter2').toString('base64'));
    assert.equal(created.stringData, undefined);
    const status = await statusOf(
      core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'raw' }, data: { password: 'not base64!' } },
      }),
    );
    assert.equal(status.code, 400);
  });
});

describe('events', () => {
  it('requires what the server requires of an events.k8s.io Event', async () => {
    const events = api.kubeConfig().makeApiClient(EventsV1Api);
    const status = await statusOf(
      events.createNamespacedEvent({
        namespace: ns,
        // What a careless caller sends: the typed model would not let this compile.
        body: { metadata: { name: 'e1' }, reason: 'Synced' } as EventsV1Event,
      }),
    );
    assert.equal(status.code, 422);
    assert.deepEqual(status.details?.causes?.map((c) => c.field).sort(), [
      'action',
      'eventTime',
      'reportingController',
      'reportingInstance',
      'type',
    ]);
    const created = await events.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: 'e2' },
        eventTime: new V1MicroTime(),
        reportingController: 'hikyaku.io/operator',
        reportingInstance: 'operator-0',
        action: 'Reconcile',
        reason: 'Synced',
        type: 'Normal',
        regarding: { kind: 'RelayPool', name: 'transactional', namespace: ns },
      },
    });
    assert.equal(created.reason, 'Synced');
  });
});

describe('server', () => {
  it('serves discovery documents', async () => {
    const get = async (path: string) =>
      (await fetch(`${api.url}${path}`)).json() as Promise<Record<string, unknown>>;
    assert.equal((await get('/api')).kind, 'APIVersions');
    const groups = (await get('/apis')).groups as { name: string }[];
    assert.ok(groups.some((g) => g.name === 'coordination.k8s.io'));
    const appsV1 = (await get('/apis/apps/v1')).resources as { name: string }[];
    assert.deepEqual(appsV1.map((r) => r.name).sort(), [
      'deployments',
      'deployments/status',
      'statefulsets',
      'statefulsets/status',
    ]);
    assert.equal((await get('/version')).major, '1');
  });

  it('requires the token when one is set', async () => {
    const secured = await startKubeStandin({ token: 's3cret' });
    try {
      const ok = secured.kubeConfig().makeApiClient(CoreV1Api);
      await ok.listNamespace();
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: secured.url, skipTLSVerify: true }],
        users: [{ name: 'u', token: 'wrong' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      await assert.rejects(kc.makeApiClient(CoreV1Api).listNamespace(), { code: 401 });
    } finally {
      await secured.stop();
    }
  });
});
