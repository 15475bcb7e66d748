/**
 * The optional NetworkPolicies: none with the default values; switched on, one per
 * component, valid for Kubernetes, selecting exactly that component's pods (as the
 * rendered Deployments label them) and admitting them only inbound, on exactly the ports
 * they listen on, from the peers the values name (any source when they name none). The
 * sender policy is checked against the pods the operator builds in senders.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  ALL_FEATURES_VALUES,
  find,
  type KubeObject,
  MONITORING_API,
  NAMESPACE,
  RELEASE,
  type RenderOptions,
  render,
} from './helm.ts';
import { schemaProblems } from './kube-schema.ts';

type Peer = Record<string, unknown>;
type Rule = { ports?: { port: number | string; protocol?: string }[]; from?: Peer[] };
type LabelSelector = { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
type PolicySpec = {
  podSelector: LabelSelector;
  policyTypes?: string[];
  ingress?: Rule[];
  egress?: unknown[];
};
type PodTemplate = {
  metadata: { labels: Record<string, string> };
  spec: {
    containers: {
      name: string;
      ports?: { name: string; containerPort: number }[];
      env?: { name: string; value?: string }[];
    }[];
  };
};

const COMPONENTS = ['ingress', 'scheduler', 'operator'] as const;
const ENABLED = 'networkPolicy.enabled=true';

function policies(objects: KubeObject[]): KubeObject[] {
  return objects.filter((o) => o.kind === 'NetworkPolicy');
}

function policySpec(policy: KubeObject): PolicySpec {
  return policy.spec as PolicySpec;
}

function podTemplate(deployment: KubeObject): PodTemplate {
  return (deployment.spec as { template: PodTemplate }).template;
}

/** Whether the selector selects a pod with these labels; the chart writes matchLabels only. */
function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  assert.equal(selector.matchExpressions, undefined, 'matchExpressions are not expected');
  assert.ok(Object.keys(selector.matchLabels ?? {}).length > 0, 'an empty selector selects all');
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** "port/protocol" of each port a rule opens. */
function ports(rule: Rule | undefined): string[] {
  return (rule?.ports ?? []).map((p) => `${p.port}/${p.protocol}`);
}

/** "port/TCP" of the pod's container ports: those named, or all but those named. */
function containerPorts(deployment: KubeObject, filter: (name: string) => boolean): string[] {
  return podTemplate(deployment)
    .spec.containers.flatMap((c) => c.ports ?? [])
    .filter((p) => filter(p.name))
    .map((p) => `${p.containerPort}/TCP`);
}

const allFeatures = parseYaml(readFileSync(ALL_FEATURES_VALUES, 'utf8')) as {
  networkPolicy: { metricsFrom: Peer[]; ingress: { smtpFrom: Peer[] } };
};

interface Variant {
  label: string;
  options: RenderOptions;
  /** The peers the rules must name; undefined: the rule has no `from` (any source). */
  smtpFrom?: Peer[];
  metricsFrom?: Peer[];
  /** The namespace of the sender policy, if one is expected. */
  senderNamespace?: string;
}

const VARIANTS: Variant[] = [
  {
    label: 'switched on with the default peers',
    options: { set: [ENABLED] },
    // The ops ports listen on every address of the pod: by default only the pods of the
    // policy's own namespace reach them; SMTP is open to any source.
    metricsFrom: [{ podSelector: {} }],
  },
  {
    label: 'switched on, ops ports opened to any IPv4 source on purpose',
    options: { set: [ENABLED, 'networkPolicy.metricsFrom[0].ipBlock.cidr=0.0.0.0/0'] },
    metricsFrom: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
  },
  {
    label: 'every optional feature on',
    options: { valuesFiles: [ALL_FEATURES_VALUES] },
    smtpFrom: allFeatures.networkPolicy.ingress.smtpFrom,
    metricsFrom: allFeatures.networkPolicy.metricsFrom,
    senderNamespace: 'mail',
  },
  {
    label: '587 without 465, other ops ports, one pool namespace',
    options: {
      set: [
        ENABLED,
        'ingress.tls.enabled=true',
        'ingress.tls.secretName=smtp-tls',
        'ingress.listeners.smtps.enabled=false',
        'ingress.opsPort=9201',
        'scheduler.opsPort=9202',
        'operator.opsPort=9204',
        'sender.opsPort=9203',
        'operator.watchNamespace=pools',
        'networkPolicy.metricsFrom[0].podSelector.matchLabels.app=prometheus',
      ],
    },
    metricsFrom: [{ podSelector: { matchLabels: { app: 'prometheus' } } }],
    senderNamespace: 'pools',
  },
];

describe('NetworkPolicies', () => {
  const off: [string, RenderOptions][] = [
    ['default values', {}],
    ['default values on a cluster with prometheus-operator', { apiVersions: [MONITORING_API] }],
    [
      'peers and a pool namespace, but not switched on',
      {
        set: [
          'operator.watchNamespace=mail',
          'networkPolicy.ingress.smtpFrom[0].ipBlock.cidr=10.0.0.0/8',
        ],
      },
    ],
  ];
  for (const [label, options] of off) {
    test(`are not rendered unless switched on (${label})`, async () => {
      assert.deepEqual(policies(await render(options)), []);
    });
  }

  for (const variant of VARIANTS) {
    const { label, options } = variant;

    test(`validate as NetworkPolicies and carry the chart's labels (${label})`, async () => {
      const rendered = policies(await render(options));
      const expected = COMPONENTS.map((c) => `${NAMESPACE}/${RELEASE}-hikyaku-${c}`);
      if (variant.senderNamespace)
        expected.push(`${variant.senderNamespace}/${RELEASE}-hikyaku-sender`);
      assert.deepEqual(
        rendered.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(),
        expected.sort(),
      );
      for (const policy of rendered) {
        const name = policy.metadata.name;
        assert.equal(policy.apiVersion, 'networking.k8s.io/v1', name);
        assert.deepEqual(schemaProblems(policy), [], name);
        const labels = policy.metadata.labels ?? {};
        assert.equal(labels['app.kubernetes.io/name'], 'hikyaku', name);
        assert.equal(labels['app.kubernetes.io/instance'], RELEASE, name);
        assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm', name);
        assert.equal(labels['app.kubernetes.io/part-of'], 'hikyaku', name);
        assert.ok(labels['app.kubernetes.io/version'], name);
        assert.equal(labels['app.kubernetes.io/component'], name.split('-').at(-1), name);
      }
    });

    test(`select each component's pods and no other (${label})`, async () => {
      const objects = await render(options);
      const deployments = objects.filter((o) => o.kind === 'Deployment');
      for (const component of COMPONENTS) {
        const policy = find(policies(objects), 'NetworkPolicy', `-${component}`);
        const selected = deployments.filter((d) =>
          selects(policySpec(policy).podSelector, podTemplate(d).metadata.labels),
        );
        assert.deepEqual(
          selected.map((d) => d.metadata.name),
          [`${RELEASE}-hikyaku-${component}`],
          policy.metadata.name,
        );
        assert.equal(policy.metadata.namespace, selected[0]?.metadata.namespace);
      }
    });

    test(`admit inbound traffic only, on exactly the ports each pod listens on (${label})`, async () => {
      const objects = await render(options);
      for (const component of COMPONENTS) {
        const spec = policySpec(find(policies(objects), 'NetworkPolicy', `-${component}`));
        const deployment = find(objects, 'Deployment', `-${component}`);
        // Egress stays open: no Egress policy type, so the pods' outbound traffic is untouched.
        assert.deepEqual(spec.policyTypes, ['Ingress'], component);
        assert.equal(spec.egress, undefined, component);
        const rules = spec.ingress ?? [];
        const opsRule = rules.at(-1);
        assert.deepEqual(
          ports(opsRule),
          containerPorts(deployment, (n) => n === 'ops'),
          component,
        );
        if (component === 'ingress') {
          assert.equal(rules.length, 2);
          const smtp = containerPorts(deployment, (n) => n !== 'ops');
          assert.ok(smtp.length > 0);
          assert.deepEqual(ports(rules[0]), smtp);
        } else {
          assert.equal(rules.length, 1, component);
        }
        // Together, the rules open every port the pod declares and nothing else.
        assert.deepEqual(
          rules.flatMap(ports).sort(),
          containerPorts(deployment, () => true).sort(),
          component,
        );
      }
    });

    test(`admit the peers the values name, any source when they name none (${label})`, async () => {
      const objects = await render(options);
      const ingress = policySpec(find(policies(objects), 'NetworkPolicy', '-ingress'));
      assert.deepEqual(ingress.ingress?.[0]?.from, variant.smtpFrom);
      for (const component of COMPONENTS) {
        const spec = policySpec(find(policies(objects), 'NetworkPolicy', `-${component}`));
        assert.deepEqual(spec.ingress?.at(-1)?.from, variant.metricsFrom, component);
      }
    });

    test(`admit sender pods on their ops port only, where the operator runs them (${label})`, async () => {
      const objects = await render(options);
      const sender = policies(objects).filter((p) => p.metadata.name.endsWith('-sender'));
      if (!variant.senderNamespace) {
        // Pools may be in any namespace: the chart cannot place a policy next to them.
        assert.deepEqual(sender, []);
        return;
      }
      const [policy] = sender;
      assert.ok(policy && sender.length === 1);
      const spec = policySpec(policy);
      // The same pods the operator manages and the sender PodMonitor scrapes.
      assert.deepEqual(spec.podSelector.matchLabels, {
        'app.kubernetes.io/managed-by': 'hikyaku-operator',
        'app.kubernetes.io/component': 'sender',
      });
      assert.deepEqual(spec.policyTypes, ['Ingress']);
      const operator = podTemplate(find(objects, 'Deployment', '-operator')).spec.containers[0];
      const senderPort = operator?.env?.find((e) => e.name === 'HIKYAKU_SENDER_HTTP_PORT')?.value;
      assert.ok(senderPort);
      assert.deepEqual(spec.ingress?.map(ports), [[`${senderPort}/TCP`]]);
      assert.deepEqual(spec.ingress?.[0]?.from, variant.metricsFrom);
      // None of the chart's own pods carries the sender labels.
      for (const d of objects.filter((o) => o.kind === 'Deployment')) {
        assert.ok(!selects(spec.podSelector, podTemplate(d).metadata.labels), d.metadata.name);
      }
    });
  }
});
