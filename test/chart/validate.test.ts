/**
 * Every object the chart renders, under each set of values, validates against the schema
 * of its kind; the chart ships the CRD of crds/ unchanged; the example RelayPools are
 * accepted by an API server that serves that CRD.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubernetesObjectApi } from '@kubernetes/client-node';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { parse } from 'yaml';
import { type KubeStandin, startKubeStandin } from '../kube/index.ts';
import {
  ALL_FEATURES_VALUES,
  CHART_DIR,
  type KubeObject,
  MONITORING_API,
  parseManifests,
  REPO_ROOT,
  type RenderOptions,
  render,
} from './helm.ts';
import { schemaProblems, unknownFields } from './kube-schema.ts';

const VARIANTS: [string, RenderOptions][] = [
  ['default values', {}],
  ['default values on a cluster with prometheus-operator', { apiVersions: [MONITORING_API] }],
  ['every optional feature on', { valuesFiles: [ALL_FEATURES_VALUES] }],
  [
    'TLS from a Secret, a NATS token, a NodePort Service, one operator namespace',
    {
      set: [
        'ingress.tls.enabled=true',
        'ingress.tls.secretName=smtp-tls',
        'nats.auth.existingSecret=nats',
        'nats.auth.tokenKey=token',
        'ingress.service.type=NodePort',
        'operator.watchNamespace=mail',
        'monitoring.serviceMonitor.create=always',
      ],
    },
  ],
  [
    'nothing optional: no budgets, no dashboard, accounts of the user',
    {
      set: [
        'ingress.pdb.enabled=false',
        'scheduler.pdb.enabled=false',
        'operator.pdb.enabled=false',
        'monitoring.dashboard.enabled=false',
        'ingress.serviceAccount.create=false',
        'scheduler.serviceAccount.create=false',
        'operator.serviceAccount.create=false',
        'operator.serviceAccount.name=hikyaku-operator',
      ],
    },
  ],
];

describe('rendered objects validate against the schema of their kind', () => {
  for (const [label, options] of VARIANTS) {
    test(label, async () => {
      const objects = await render(options);
      assert.ok(objects.length > 0);
      for (const obj of objects) {
        assert.deepEqual(schemaProblems(obj), [], `${obj.kind}/${obj.metadata.name}`);
      }
    });
  }

  test('the check finds a misspelt field and a wrong type', () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: {
          metadata: { labels: { a: 'b' } },
          spec: {
            containers: [
              { name: 'c', image: 'i', securityContext: { readOnlyRootFilesytem: true } },
            ],
          },
        },
      },
    };
    assert.deepEqual(unknownFields(deployment, 'V1Deployment', ''), [
      '.spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem: unknown field of V1SecurityContext',
    ]);
    const wrongType = structuredClone(deployment) as KubeObject & { spec: { replicas?: unknown } };
    wrongType.spec.replicas = 'two';
    assert.ok(schemaProblems(wrongType).some((p) => /replicas must be integer/.test(p)));
  });

  test('the check refuses a kind it has no schema for', () => {
    const problems = schemaProblems({ apiVersion: 'v1', kind: 'Widget', metadata: { name: 'w' } });
    assert.match(problems[0] ?? '', /no schema known for v1\/Widget/);
  });
});

describe('the RelayPool CRD', () => {
  const chartCrd = join(CHART_DIR, 'crds/relaypools.hikyaku.io.yaml');
  const sourceCrd = join(REPO_ROOT, 'crds/relaypools.hikyaku.io.yaml');

  test('is shipped by the chart exactly as crds/ holds it', () => {
    assert.deepEqual(readdirSync(join(CHART_DIR, 'crds')), ['relaypools.hikyaku.io.yaml']);
    assert.ok(
      readFileSync(chartCrd).equals(readFileSync(sourceCrd)),
      'charts/hikyaku/crds/relaypools.hikyaku.io.yaml differs from crds/: copy crds/relaypools.hikyaku.io.yaml over it',
    );
  });

  test('is a valid CustomResourceDefinition', () => {
    const [crd] = parseManifests(readFileSync(chartCrd, 'utf8'));
    new CustomResourceDefinition(crd as never).validate();
    assert.deepEqual(unknownFields(crd, 'V1CustomResourceDefinition', ''), []);
  });
});

describe('the example RelayPools', () => {
  let api: KubeStandin;
  let client: KubernetesObjectApi;

  before(async () => {
    // An API server stand-in that serves the chart's CRD: pruning, schema and CEL rules.
    api = await startKubeStandin({
      crdFiles: [join(CHART_DIR, 'crds/relaypools.hikyaku.io.yaml')],
    });
    client = KubernetesObjectApi.makeApiClient(api.kubeConfig('default'));
  });

  after(async () => {
    await api?.stop();
  });

  const examples = readdirSync(join(REPO_ROOT, 'examples')).filter((f) => f.endsWith('.yaml'));

  test('include a transactional and a marketing pool', () => {
    assert.ok(examples.includes('transactional.yaml'));
    assert.ok(examples.includes('marketing.yaml'));
  });

  for (const file of examples) {
    test(`${file} is accepted by the API server, unchanged by pruning`, async () => {
      const pool = parse(readFileSync(join(REPO_ROOT, 'examples', file), 'utf8')) as KubeObject;
      assert.equal(pool.kind, 'RelayPool');
      const created = (await client.create(
        pool as never,
        undefined,
        'All',
      )) as unknown as KubeObject;
      // Pruning drops fields the schema does not know: the spec comes back as written,
      // plus the defaults the schema fills in.
      assert.deepEqual(pickKnown(created.spec, pool.spec), pool.spec);
    });
  }

  test('the marketing pool warms four new IPs with docomo, gmail and yahoo policies', () => {
    const pool = parse(readFileSync(join(REPO_ROOT, 'examples/marketing.yaml'), 'utf8')) as {
      spec: { ips: { warmup?: unknown }[]; ratePolicies: { name: string }[] };
    };
    assert.equal(pool.spec.ips.filter((ip) => ip.warmup).length, 4);
    const names = pool.spec.ratePolicies.map((p) => p.name);
    for (const name of ['docomo', 'gmail', 'yahoo']) assert.ok(names.includes(name), name);
  });

  test('the transactional pool sends from two warm IPs', () => {
    const pool = parse(readFileSync(join(REPO_ROOT, 'examples/transactional.yaml'), 'utf8')) as {
      spec: { ips: { warmup?: unknown }[] };
    };
    assert.equal(pool.spec.ips.length, 2);
    assert.ok(pool.spec.ips.every((ip) => !ip.warmup));
  });
});

/** `value` restricted to the keys `shape` has, recursively: defaults added by the server go. */
function pickKnown(value: unknown, shape: unknown): unknown {
  if (Array.isArray(shape) && Array.isArray(value)) {
    return value.map((v, i) => pickKnown(v, shape[i]));
  }
  if (shape && typeof shape === 'object' && value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(shape).map((k) => [
        k,
        pickKnown((value as Record<string, unknown>)[k], (shape as Record<string, unknown>)[k]),
      ]),
    );
  }
  return value;
}
