import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { type KubeStandin, startKubeStandin } from './index.ts';
import { statusOf } from './testing.ts';

const fixture = fileURLToPath(new URL('fixtures/widgets.test.hikyaku.io.yaml', import.meta.url));
const relayPoolCrd = fileURLToPath(
  new URL('../../crds/relaypools.hikyaku.io.yaml', import.meta.url),
);

const ns = 'crd';
const group = 'test.hikyaku.io';
const version = 'v1alpha1';
const plural = 'widgets';
const where = { group, version, plural, namespace: ns };

let api: KubeStandin;
let custom: CustomObjectsApi;

before(async () => {
  api = await startKubeStandin({ crdFiles: [fixture] });
  custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
});
after(() => api.stop());

interface Widget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; generation?: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
  [field: string]: unknown;
}

function widget(name: string, spec: Record<string, unknown>, extra: object = {}): Widget {
  return { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name }, spec, ...extra };
}

const create = (body: Widget) =>
  custom.createNamespacedCustomObject({ ...where, body }) as Promise<Widget>;

const mergeHeader = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('custom resource validation', () => {
  it('rejects a bad object with 422, naming each failing field', async () => {
    const status = await statusOf(
      create(
        widget('bad', {
          mode: 'sometimes',
          timeout: 'PT5M',
          maxConnections: 'many',
          port: true,
          labels: { team: 'far-too-long' },
          ips: [{ address: '192.0.2.1' }, { address: '192.0.2.1' }],
        }),
      ),
    );
    assert.equal(status.code, 422);
    assert.equal(status.reason, 'Invalid');
    assert.equal(status.details?.kind, 'Widget');
    assert.equal(status.details?.group, group);
    const byField = new Map(status.details?.causes?.map((c) => [c.field, c]));
    assert.deepEqual([...byField.keys()].sort(), [
      'spec.ips[1]',
      'spec.labels[team]',
      'spec.maxConnections',
      'spec.mode',
      'spec.pool',
      'spec.port',
      'spec.timeout',
      undefined,
    ]);
    assert.equal(byField.get('spec.pool')?.reason, 'FieldValueRequired');
    assert.equal(byField.get('spec.mode')?.reason, 'FieldValueNotSupported');
    assert.equal(byField.get('spec.ips[1]')?.reason, 'FieldValueDuplicate');
    assert.match(
      byField.get('spec.timeout')!.message,
      /spec\.timeout in body must be of type duration: "PT5M"/,
    );
    assert.match(byField.get(undefined)!.message, /some validation rules were not checked/);
    assert.match(status.message, /^Widget\.test\.hikyaku\.io "bad" is invalid: \[/);
    assert.match(
      status.message,
      /spec\.mode: Unsupported value: "sometimes": supported values: "defer", "spill"/,
    );
  });

  it('evaluates CEL rules once the structure is valid, with Kubernetes library functions', async () => {
    const status = await statusOf(
      create(
        widget('cel', { pool: 'p', ips: [{ address: '192.0.2.1' }, { address: '2001:db8::1' }] }),
      ),
    );
    assert.equal(status.code, 422);
    assert.deepEqual(status.details?.causes, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.ips[1].address',
        message: 'Invalid value: "object": address 2001:db8::1 is not an IPv4 address',
      },
    ]);
    assert.match(
      status.message,
      /spec\.ips\[1\]\.address: Invalid value: "object": address 2001:db8::1/,
    );
  });

  it('evaluates rules spanning fields and reports them at their fieldPath', async () => {
    const status = await statusOf(
      create(widget('span', { pool: 'p', minConnections: 5, maxConnections: 2 })),
    );
    assert.deepEqual(status.details?.causes, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.minConnections',
        message: 'Invalid value: "object": minConnections must not exceed maxConnections',
      },
    ]);
  });

  it('prunes unknown fields, keeps preserved ones and applies defaults', async () => {
    const created = await create(
      widget(
        'pruned',
        {
          pool: 'p',
          mode: null,
          note: null,
          unknown: 1,
          extra: { anything: { goes: true } },
          ips: [{ address: '192.0.2.7', surplus: 'x' }],
        },
        { topLevel: 'dropped' },
      ),
    );
    assert.equal(created.topLevel, undefined);
    assert.deepEqual(created.spec, {
      pool: 'p',
      mode: 'defer',
      note: null,
      extra: { anything: { goes: true } },
      ips: [{ address: '192.0.2.7', weight: 1 }],
      minConnections: 1,
      maxConnections: 4,
    });
  });

  it('runs transition rules against the old object on update', async () => {
    const created = await create(widget('immutable', { pool: 'first' }));
    created.spec.pool = 'second';
    const status = await statusOf(
      custom.replaceNamespacedCustomObject({ ...where, name: 'immutable', body: created }),
    );
    assert.equal(status.code, 422);
    assert.equal(status.details?.causes?.[0]?.field, 'spec.pool');
    assert.match(status.message, /pool is immutable/);
  });
});

describe('custom resource subresources and metadata', () => {
  it('bumps generation on spec changes and keeps spec and status apart', async () => {
    await create(widget('gen', { pool: 'p' }));
    const labelled = (await custom.patchNamespacedCustomObject(
      {
        ...where,
        name: 'gen',
        body: { metadata: { labels: { a: 'b' } }, status: { phase: 'Ready' } },
      },
      mergeHeader,
    )) as Widget;
    assert.equal(labelled.metadata.generation, 1);
    assert.equal(labelled.status, undefined, 'status is not written through the main resource');

    const changed = (await custom.patchNamespacedCustomObject(
      { ...where, name: 'gen', body: { spec: { maxConnections: 8 } } },
      mergeHeader,
    )) as Widget;
    assert.equal(changed.metadata.generation, 2);

    const withStatus = (await custom.patchNamespacedCustomObjectStatus(
      {
        ...where,
        name: 'gen',
        body: { spec: { maxConnections: 1 }, status: { observedGeneration: 2, phase: 'Ready' } },
      },
      mergeHeader,
    )) as Widget;
    assert.deepEqual(withStatus.status, { observedGeneration: 2, phase: 'Ready' });
    assert.equal(withStatus.spec.maxConnections, 8);
    assert.equal(withStatus.metadata.generation, 2);

    const badStatus = await statusOf(
      custom.replaceNamespacedCustomObjectStatus({
        ...where,
        name: 'gen',
        body: { ...withStatus, status: { phase: 'Exploded' } },
      }),
    );
    assert.equal(badStatus.details?.causes?.[0]?.field, 'status.phase');
  });

  it('lists across namespaces and serves kubectl-style names to the test store', async () => {
    await custom.createNamespacedCustomObject({
      ...where,
      namespace: 'crd-other',
      body: widget('elsewhere', { pool: 'p' }),
    });
    const all = (await custom.listClusterCustomObject({ group, version, plural })) as {
      items: Widget[];
      metadata: { resourceVersion: string };
    };
    assert.ok(all.items.some((w) => w.metadata.name === 'elsewhere'));
    assert.ok(all.items.every((w) => w.kind === 'Widget'));
    assert.equal(all.metadata.resourceVersion, api.store.resourceVersion());
    assert.equal(
      api.store.get('widgets.test.hikyaku.io', 'crd-other', 'elsewhere')?.kind,
      'Widget',
    );
    assert.equal(api.store.get('wg', 'crd-other', 'elsewhere')?.metadata.name, 'elsewhere');
  });
});

describe('CustomResourceDefinitions through the API', () => {
  const crd = (rule: string) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gadgets.test.hikyaku.io' },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
      versions: ['v1', 'v2'].map((name) => ({
        name,
        served: true,
        storage: name === 'v1',
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                // client-node's models spell the extension keys with underscores.
                x_kubernetes_validations: [{ rule }],
                properties: { size: { type: 'integer' } },
              },
            },
          },
        },
      })),
    },
  });

  it('serves a CRD once created, at each version, refuses one whose rules do not compile', async () => {
    const ext = api.kubeConfig().makeApiClient(ApiextensionsV1Api);
    const refused = await statusOf(
      ext.createCustomResourceDefinition({ body: crd('self.size >') }),
    );
    assert.equal(refused.code, 422);

    const created = await ext.createCustomResourceDefinition({ body: crd('self.size < 10') });
    assert.ok(
      created.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'),
    );
    const gadgets = { group, version: 'v1', plural: 'gadgets', namespace: ns };
    const body = {
      apiVersion: `${group}/v1`,
      kind: 'Gadget',
      metadata: { name: 'g' },
      spec: { size: 3 },
    };
    await custom.createNamespacedCustomObject({ ...gadgets, body });
    const tooBig = await statusOf(
      custom.createNamespacedCustomObject({
        ...gadgets,
        body: { ...body, metadata: { name: 'h' }, spec: { size: 30 } },
      }),
    );
    assert.match(tooBig.message, /failed rule: self.size < 10/);

    const asV2 = (await custom.getNamespacedCustomObject({
      ...gadgets,
      version: 'v2',
      name: 'g',
    })) as Widget;
    assert.equal(asV2.apiVersion, `${group}/v2`, 'each served version reads the same object');

    await ext.deleteCustomResourceDefinition({ name: 'gadgets.test.hikyaku.io' });
    const gone = await statusOf(custom.getNamespacedCustomObject({ ...gadgets, name: 'g' }));
    assert.equal(gone.code, 404);
  });

  it('loads the RelayPool CRD from crds/ when it is there', {
    skip: !existsSync(relayPoolCrd),
  }, async () => {
    const withPool = await startKubeStandin({ crdFiles: [relayPoolCrd] });
    try {
      const res = await fetch(`${withPool.url}/apis/hikyaku.io`);
      assert.equal(res.status, 200);
      const list = await fetch(
        `${withPool.url}/apis/hikyaku.io/v1alpha1/namespaces/mail/relaypools`,
      );
      assert.equal(list.status, 200);
    } finally {
      await withPool.stop();
    }
  });
});
