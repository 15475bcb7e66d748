/**
 * The chart configures the operator, and the operator creates the sender pods: the
 * operator's own configuration reader accepts the environment the chart gives it, and
 * the sender StatefulSet it builds from that configuration runs the chart's image, is
 * valid for Kubernetes, and is found by the chart's sender PodMonitor.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { RelayPoolObject } from '@hikyaku/operator';
import { buildSenderStatefulSet, readOperatorConfig } from '@hikyaku/operator';
import { parse } from 'yaml';
import {
  ALL_FEATURES_VALUES,
  find,
  type KubeObject,
  MONITORING_API,
  NAMESPACE,
  REPO_ROOT,
  type RenderOptions,
  render,
} from './helm.ts';
import { schemaProblems } from './kube-schema.ts';

type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
};

/** The operator container's environment as the kubelet would resolve it. */
function resolvedEnv(objects: KubeObject[]): Record<string, string> {
  const deployment = find(objects, 'Deployment', '-operator');
  const container = (deployment.spec as { template: { spec: { containers: { env: EnvVar[] }[] } } })
    .template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const e of container?.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = NAMESPACE;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = 'operator-0';
    else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = e.name.endsWith('_URL')
        ? `${e.name.startsWith('NATS') ? 'nats' : 'redis'}://from-secret:1234`
        : 'from-secret';
    }
  }
  return env;
}

function examplePool(): RelayPoolObject {
  const pool = parse(readFileSync(join(REPO_ROOT, 'examples/transactional.yaml'), 'utf8'));
  return {
    ...pool,
    metadata: {
      ...pool.metadata,
      uid: '3b1f4c2e-0000-4000-8000-000000000001',
      resourceVersion: '1',
      generation: 1,
    },
  };
}

const CASES: [string, RenderOptions][] = [
  ['default values', { apiVersions: [MONITORING_API] }],
  ['every feature on', { valuesFiles: [ALL_FEATURES_VALUES] }],
];

for (const [label, options] of CASES) {
  describe(`the operator as the chart configures it (${label})`, () => {
    test('accepts its environment', async () => {
      const config = readOperatorConfig(resolvedEnv(await render(options)));
      assert.equal(config.leaderElection.enabled, true);
      assert.equal(config.leaderElection.namespace, NAMESPACE);
    });

    test('builds sender pods with the chart image, found by the sender PodMonitor', async () => {
      const objects = await render(options);
      const config = readOperatorConfig(resolvedEnv(objects));
      const chartImage = (
        find(objects, 'Deployment', '-ingress').spec as {
          template: { spec: { containers: { image: string }[] } };
        }
      ).template.spec.containers[0]?.image;
      const statefulSet = buildSenderStatefulSet({
        pool: examplePool(),
        replicas: 2,
        sender: config.sender,
        dkimSecrets: ['dkim-shop'],
        dkimVersion: 'v1',
      });
      assert.deepEqual(schemaProblems(statefulSet as unknown as KubeObject), []);

      const template = statefulSet.spec?.template;
      const container = template?.spec?.containers.find((c) => c.args?.[0] === 'sender');
      assert.ok(container, 'no sender container');
      assert.equal(container.image, chartImage);

      const monitor = find(objects, 'PodMonitor').spec as {
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { any?: boolean; matchNames?: string[] };
        podMetricsEndpoints: { port: string }[];
      };
      for (const [key, value] of Object.entries(monitor.selector.matchLabels)) {
        assert.equal(template?.metadata?.labels?.[key], value, `sender pods lack ${key}=${value}`);
      }
      const namespaces = monitor.namespaceSelector;
      assert.ok(namespaces.any || namespaces.matchNames?.includes('mail'));
      const port = container.ports?.find((p) => p.name === monitor.podMetricsEndpoints[0]?.port);
      assert.ok(port, `the sender container has no port ${monitor.podMetricsEndpoints[0]?.port}`);
      const httpPort = container.env?.find((e) => e.name === 'HIKYAKU_HTTP_PORT')?.value;
      assert.equal(String(port.containerPort), httpPort);
    });
  });
}

describe('the sender NetworkPolicy (every feature on)', () => {
  test('admits the sender pods the operator builds, relabelled or not, on the port they serve', async () => {
    const objects = await render({ valuesFiles: [ALL_FEATURES_VALUES] });
    const config = readOperatorConfig(resolvedEnv(objects));
    const policy = find(objects, 'NetworkPolicy', '-sender');
    const spec = policy.spec as {
      podSelector: { matchLabels: Record<string, string> };
      ingress: { ports: { port: number; protocol: string }[] }[];
    };
    const plain = examplePool();
    // A pool's template that tries to take the selector labels away: the operator puts
    // them back, so the policy still selects its pods.
    const relabelled = examplePool();
    relabelled.spec = {
      ...relabelled.spec,
      senders: {
        ...relabelled.spec.senders,
        template: {
          ...relabelled.spec.senders?.template,
          metadata: {
            labels: {
              'app.kubernetes.io/component': 'mta',
              'app.kubernetes.io/managed-by': 'someone-else',
            },
          },
        },
      },
    };
    for (const pool of [plain, relabelled]) {
      const statefulSet = buildSenderStatefulSet({
        pool,
        replicas: 1,
        sender: config.sender,
        dkimSecrets: [],
        dkimVersion: '',
      });
      assert.equal(policy.metadata.namespace, statefulSet.metadata?.namespace);
      const template = statefulSet.spec?.template;
      for (const [key, value] of Object.entries(spec.podSelector.matchLabels)) {
        assert.equal(template?.metadata?.labels?.[key], value, `sender pods lack ${key}=${value}`);
      }
      const container = template?.spec?.containers.find((c) => c.args?.[0] === 'sender');
      const httpPort = container?.env?.find((e) => e.name === 'HIKYAKU_HTTP_PORT')?.value;
      assert.deepEqual(
        spec.ingress.flatMap((r) => r.ports.map((p) => `${p.port}/${p.protocol}`)),
        [`${httpPort}/TCP`],
      );
    }
  });
});
