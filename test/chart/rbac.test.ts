/**
 * The operator's rendered RBAC against the table of every Kubernetes access it makes
 * (operator/src/access.ts), both ways: nothing is granted that the table does not list,
 * and everything it lists is granted, in the scope it names. The other components get no
 * access at all.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ACCESS } from '@hikyaku/operator';
import {
  ALL_FEATURES_VALUES,
  find,
  type KubeObject,
  NAMESPACE,
  type RenderOptions,
  render,
} from './helm.ts';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** One granted (or needed) access: "scope group/resource verb". */
type Grant = string;

function grant(scope: string, group: string, resource: string, verb: string): Grant {
  return `${scope} ${group || 'core'}/${resource} ${verb}`;
}

/** Everything the bindings give the ServiceAccount, as "scope group/resource verb". */
function grantsOf(objects: KubeObject[], account: { name: string; namespace: string }) {
  const grants = new Map<Grant, PolicyRule>();
  for (const binding of objects.filter(
    (o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding',
  )) {
    const subjects = binding.subjects as { kind: string; name: string; namespace?: string }[];
    const bound = subjects.some(
      (s) =>
        s.kind === 'ServiceAccount' && s.name === account.name && s.namespace === account.namespace,
    );
    if (!bound) continue;
    const ref = binding.roleRef as { kind: string; name: string };
    const role = objects.find(
      (o) =>
        o.kind === ref.kind &&
        o.metadata.name === ref.name &&
        (ref.kind === 'ClusterRole' || o.metadata.namespace === binding.metadata.namespace),
    );
    assert.ok(
      role,
      `${binding.kind}/${binding.metadata.name} refers to a role the chart does not render`,
    );
    const scope =
      binding.kind === 'ClusterRoleBinding' ? 'cluster' : `namespace:${binding.metadata.namespace}`;
    for (const rule of role.rules as PolicyRule[]) {
      assert.equal(rule.nonResourceURLs, undefined, 'non-resource URLs granted');
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          for (const verb of rule.verbs) {
            for (const word of [group, resource, verb])
              assert.notEqual(word, '*', `wildcard in ${role.metadata.name}`);
            grants.set(grant(scope, group, resource, verb), rule);
          }
        }
      }
    }
  }
  return grants;
}

/** What operator/src/access.ts says the operator needs, in the scopes the chart must use. */
function needed(watchNamespace: string): Set<Grant> {
  const needs = new Set<Grant>();
  for (const rule of ACCESS) {
    const scope =
      rule.scope === 'lease'
        ? `namespace:${NAMESPACE}`
        : watchNamespace
          ? `namespace:${watchNamespace}`
          : 'cluster';
    for (const verb of rule.verbs) needs.add(grant(scope, rule.group, rule.resource, verb));
  }
  return needs;
}

function serviceAccount(
  objects: KubeObject[],
  component: string,
): { name: string; namespace: string } {
  const deployment = find(objects, 'Deployment', `-${component}`);
  const spec = (deployment.spec as { template: { spec: { serviceAccountName: string } } }).template
    .spec;
  return { name: spec.serviceAccountName, namespace: NAMESPACE };
}

const CASES: [string, RenderOptions, string][] = [
  ['every namespace (ClusterRole)', {}, ''],
  ['one namespace (Role there)', { set: ['operator.watchNamespace=mail'] }, 'mail'],
  ['every feature on', { valuesFiles: [ALL_FEATURES_VALUES] }, 'mail'],
];

describe("the operator's RBAC matches operator/src/access.ts", () => {
  for (const [label, options, watchNamespace] of CASES) {
    test(`nothing granted beyond the table: ${label}`, async () => {
      const objects = await render(options);
      const granted = grantsOf(objects, serviceAccount(objects, 'operator'));
      const need = needed(watchNamespace);
      const extra = [...granted.keys()].filter((g) => !need.has(g));
      assert.deepEqual(
        extra,
        [],
        'granted but not in operator/src/access.ts: remove it from charts/hikyaku/templates/operator-rbac.yaml',
      );
    });

    test(`everything in the table granted: ${label}`, async () => {
      const objects = await render(options);
      const granted = grantsOf(objects, serviceAccount(objects, 'operator'));
      const missing = [...needed(watchNamespace)].filter((g) => !granted.has(g));
      assert.deepEqual(
        missing,
        [],
        'in operator/src/access.ts but not granted: add it to charts/hikyaku/templates/operator-rbac.yaml',
      );
    });
  }

  test('a rule narrowed to names names the Lease the operator is told to use', async () => {
    const objects = await render();
    const granted = grantsOf(objects, serviceAccount(objects, 'operator'));
    const deployment = find(objects, 'Deployment', '-operator');
    const env = (
      deployment.spec as {
        template: { spec: { containers: { env: { name: string; value?: string }[] }[] } };
      }
    ).template.spec.containers[0]?.env;
    const lease = env?.find((e) => e.name === 'HIKYAKU_LEASE_NAME')?.value;
    assert.ok(lease);
    for (const [g, rule] of granted) {
      if (rule.resourceNames) {
        assert.match(g, /coordination\.k8s\.io\/leases (get|update)$/);
        assert.deepEqual(rule.resourceNames, [lease]);
      }
    }
  });
});

test('the ingress and the scheduler are bound to no role', async () => {
  const objects = await render({ valuesFiles: [ALL_FEATURES_VALUES] });
  for (const component of ['ingress', 'scheduler']) {
    assert.deepEqual(
      [...grantsOf(objects, serviceAccount(objects, component)).keys()],
      [],
      component,
    );
  }
});
