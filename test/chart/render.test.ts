/**
 * charts/hikyaku rendered by the real helm: lint, the objects each set of values gives,
 * the security and scheduling settings every pod must carry, the environment each
 * component reads, and values the schema must refuse.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  ALL_FEATURES_VALUES,
  CHART_DIR,
  find,
  helm,
  type KubeObject,
  MONITORING_API,
  NAMESPACE,
  RELEASE,
  REPO_ROOT,
  type RenderOptions,
  render,
  renderError,
} from './helm.ts';

type Container = {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string }[];
  startupProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
};
type PodSpec = {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  volumes?: { name: string; emptyDir?: unknown; secret?: { secretName: string } }[];
  topologySpreadConstraints?: { topologyKey: string; labelSelector?: unknown }[];
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
};

function podSpec(deployment: KubeObject): PodSpec {
  return (deployment.spec as { template: { spec: PodSpec } }).template.spec;
}

function env(container: Container): Map<string, { value?: string; valueFrom?: unknown }> {
  return new Map((container.env ?? []).map((e) => [e.name, e]));
}

function kinds(objects: KubeObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

/** Environment variables a component's configuration reads, from its config.ts sources. */
function variablesRead(files: string[]): Set<string> {
  const names = new Set<string>();
  for (const file of files) {
    const source = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const m of source.matchAll(/'((?:HIKYAKU|NATS|REDIS)_[A-Z0-9_]+)'/g))
      names.add(m[1] as string);
  }
  return names;
}

const CONFIG_SOURCES: Record<string, string[]> = {
  ingress: ['services/core/src/config.ts', 'services/ingress/src/config.ts'],
  scheduler: ['services/core/src/config.ts', 'services/scheduler/src/config.ts'],
  operator: ['operator/src/config.ts'],
};

/** Set by the chart for NATS credentials; the services' configuration does not read them yet. */
const NATS_CREDENTIALS = ['NATS_USER', 'NATS_PASSWORD', 'NATS_TOKEN'];

describe('helm lint', () => {
  test('passes --strict with the default values', async () => {
    const result = await helm(['lint', '--strict', CHART_DIR]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('passes --strict with every optional feature on', async () => {
    const result = await helm(['lint', '--strict', CHART_DIR, '--values', ALL_FEATURES_VALUES]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });
});

describe('default values', () => {
  test('render the three components, their Services, accounts, budgets and RBAC', async () => {
    const objects = await render();
    const p = `${RELEASE}-hikyaku`;
    assert.deepEqual(kinds(objects), [
      `ClusterRole/${p}-operator`,
      `ClusterRole/${p}-operator-cluster`,
      `ClusterRoleBinding/${p}-operator`,
      `ClusterRoleBinding/${p}-operator-cluster`,
      `ConfigMap/${p}-dashboard`,
      `Deployment/${p}-ingress`,
      `Deployment/${p}-operator`,
      `Deployment/${p}-scheduler`,
      `Job/${p}-operator-remove-pools`,
      `PodDisruptionBudget/${p}-ingress`,
      `PodDisruptionBudget/${p}-operator`,
      `PodDisruptionBudget/${p}-scheduler`,
      `Role/${p}-operator-leader-election`,
      `RoleBinding/${p}-operator-leader-election`,
      `Service/${p}-ingress`,
      `Service/${p}-ingress-ops`,
      `Service/${p}-operator-ops`,
      `Service/${p}-scheduler-ops`,
      `ServiceAccount/${p}-ingress`,
      `ServiceAccount/${p}-operator`,
      `ServiceAccount/${p}-scheduler`,
    ]);
  });

  test('delete the RelayPools before helm uninstall, as the operator, from a pre-delete hook', async () => {
    const job = find(await render(), 'Job', '-operator-remove-pools');
    const annotations = (job.metadata.annotations ?? {}) as Record<string, string>;
    assert.equal(annotations['helm.sh/hook'], 'pre-delete');
    const pod = podSpec(job);
    assert.equal(pod.serviceAccountName, `${RELEASE}-hikyaku-operator`);
    const [container] = pod.containers as [Container];
    assert.deepEqual(container.args, ['remove-pools']);
    assert.equal(env(container).get('HIKYAKU_REMOVE_POOLS_WAIT_MS')?.value, '120000');
    assert.equal(env(container).get('HIKYAKU_WATCH_NAMESPACE')?.value, '');
    const off = await render({ set: ['operator.uninstall.removePools=false'] });
    assert.ok(!off.some((o) => o.kind === 'Job'), 'no hook when it is turned off');
  });

  test('put every namespaced object in the release namespace', async () => {
    for (const o of await render()) {
      if (o.kind.startsWith('Cluster')) assert.equal(o.metadata.namespace, undefined);
      else assert.equal(o.metadata.namespace, NAMESPACE, `${o.kind}/${o.metadata.name}`);
    }
  });

  test('give the ingress only the relay port without TLS: 25 on the Service, 2525 in the pod', async () => {
    const objects = await render();
    const service = find(objects, 'Service', '-ingress').spec as {
      type: string;
      ports: { name: string; port: number; targetPort: string }[];
    };
    assert.equal(service.type, 'ClusterIP');
    assert.deepEqual(
      service.ports.map((p) => [p.name, p.port, p.targetPort]),
      [['smtp', 25, 'smtp']],
    );
    const container = podSpec(find(objects, 'Deployment', '-ingress')).containers[0] as Container;
    assert.equal(env(container).get('HIKYAKU_LISTENERS')?.value, 'relay');
    assert.deepEqual(
      container.ports?.map((p) => [p.name, p.containerPort]),
      [
        ['smtp', 2525],
        ['ops', 9101],
      ],
    );
  });

  test('run stream replicas 3 and point at the NATS and Redis of docs/install.md', async () => {
    for (const d of (await render()).filter((o) => o.kind === 'Deployment')) {
      const e = env(podSpec(d).containers[0] as Container);
      assert.equal(e.get('HIKYAKU_STREAM_REPLICAS')?.value, '3');
      assert.equal(e.get('NATS_URL')?.value, 'nats://nats.nats.svc.cluster.local:4222');
      assert.equal(e.get('REDIS_URL')?.value, 'redis://valkey.redis.svc.cluster.local:6379');
    }
  });
});

describe('every pod', () => {
  const cases: [string, RenderOptions][] = [
    ['default values', {}],
    ['every feature on', { valuesFiles: [ALL_FEATURES_VALUES] }],
  ];
  for (const [label, options] of cases) {
    test(`runs non-root, read-only, unprivileged, with /tmp writable (${label})`, async () => {
      for (const d of (await render(options)).filter((o) => o.kind === 'Deployment')) {
        const spec = podSpec(d);
        const name = d.metadata.name;
        assert.equal(spec.securityContext?.runAsNonRoot, true, name);
        assert.equal(spec.securityContext?.runAsUser, 10001, name);
        assert.deepEqual(spec.securityContext?.seccompProfile, { type: 'RuntimeDefault' }, name);
        for (const c of spec.containers) {
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, name);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, name);
          assert.equal(c.securityContext?.privileged, false, name);
          assert.deepEqual(c.securityContext?.capabilities, { drop: ['ALL'] }, name);
          const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
          assert.ok(tmp, `${name}: no volume at /tmp`);
          assert.ok(
            spec.volumes?.find((v) => v.name === tmp.name)?.emptyDir,
            `${name}: /tmp is no emptyDir`,
          );
        }
      }
    });

    test(`is probed on /healthz and /readyz of the port the service listens on (${label})`, async () => {
      for (const d of (await render(options)).filter((o) => o.kind === 'Deployment')) {
        const c = podSpec(d).containers[0] as Container;
        const ops = c.ports?.find((p) => p.name === 'ops');
        assert.ok(ops, d.metadata.name);
        assert.equal(env(c).get('HIKYAKU_HTTP_PORT')?.value, String(ops.containerPort));
        assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'ops' });
        assert.deepEqual(c.startupProbe?.httpGet, { path: '/healthz', port: 'ops' });
        assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'ops' });
      }
    });

    test(`finishes its shutdown inside the termination grace period (${label})`, async () => {
      for (const d of (await render(options)).filter((o) => o.kind === 'Deployment')) {
        const spec = podSpec(d);
        const grace = env(spec.containers[0] as Container).get('HIKYAKU_SHUTDOWN_GRACE_MS')?.value;
        assert.ok(Number(grace) > 0, d.metadata.name);
        assert.ok(
          Number(grace) < (spec.terminationGracePeriodSeconds as number) * 1000,
          d.metadata.name,
        );
      }
    });

    test(`is spread over zones and nodes and labelled app.kubernetes.io/* (${label})`, async () => {
      const objects = await render(options);
      for (const o of objects) {
        const labels = o.metadata.labels ?? {};
        for (const key of ['name', 'instance', 'version', 'managed-by', 'part-of', 'component']) {
          assert.ok(
            labels[`app.kubernetes.io/${key}`],
            `${o.kind}/${o.metadata.name} lacks ${key}`,
          );
        }
      }
      for (const d of objects.filter((o) => o.kind === 'Deployment')) {
        const spec = d.spec as {
          selector: { matchLabels: Record<string, string> };
          template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
        };
        for (const [k, v] of Object.entries(spec.selector.matchLabels)) {
          assert.equal(spec.template.metadata.labels[k], v, `${d.metadata.name}: selector ${k}`);
        }
        const keys = spec.template.spec.topologySpreadConstraints?.map((t) => t.topologyKey) ?? [];
        assert.ok(keys.includes('topology.kubernetes.io/zone'), d.metadata.name);
      }
    });

    test(`runs the component its name says, with only the variables it reads (${label})`, async () => {
      for (const d of (await render(options)).filter((o) => o.kind === 'Deployment')) {
        const component = d.metadata.labels?.['app.kubernetes.io/component'] as string;
        const c = podSpec(d).containers[0] as Container;
        assert.deepEqual(c.args, [component]);
        const read = variablesRead(CONFIG_SOURCES[component] as string[]);
        for (const name of env(c).keys()) {
          if (NATS_CREDENTIALS.includes(name)) continue;
          assert.ok(read.has(name), `${component} does not read ${name}`);
        }
      }
    });
  }

  test('only the operator mounts a service account token', async () => {
    const objects = await render();
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      const component = d.metadata.labels?.['app.kubernetes.io/component'];
      assert.equal(
        podSpec(d).automountServiceAccountToken,
        component === 'operator',
        d.metadata.name,
      );
    }
    for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) {
      const component = sa.metadata.labels?.['app.kubernetes.io/component'];
      assert.equal(sa.automountServiceAccountToken, component === 'operator', sa.metadata.name);
    }
  });
});

test('the services read the NATS credentials the chart passes (NATS_USER, NATS_PASSWORD, NATS_TOKEN)', () => {
  const read = variablesRead(['services/core/src/config.ts']);
  for (const name of NATS_CREDENTIALS) assert.ok(read.has(name), name);
});

test('wireVersion reaches the ingress and the scheduler, and the sender pods through the operator; unset, the relay decides', async () => {
  for (const [set, value] of [
    [[], undefined],
    [['wireVersion=1'], '1'],
    [['wireVersion=2'], '2'],
  ] as const) {
    const objects = await render({ set: [...set] });
    for (const component of ['-ingress', '-scheduler', '-operator']) {
      const c = podSpec(find(objects, 'Deployment', component)).containers[0] as Container;
      assert.equal(env(c).get('HIKYAKU_WIRE_VERSION')?.value, value, component);
    }
  }
});

test('scheduler.progressEvents turns the live progress notices on; they are off by default', async () => {
  for (const [set, value] of [
    [[], 'false'],
    [['scheduler.progressEvents=true'], 'true'],
  ] as const) {
    const objects = await render({ set: [...set] });
    const scheduler = podSpec(find(objects, 'Deployment', '-scheduler')).containers[0] as Container;
    assert.equal(env(scheduler).get('HIKYAKU_PROGRESS_EVENTS')?.value, value);
  }
});

test('scheduler.gatherMs sets how long the scheduler gathers new mail; 20 ms by default', async () => {
  for (const [set, value] of [
    [[], '20'],
    [['scheduler.gatherMs=0'], '0'],
  ] as const) {
    const objects = await render({ set: [...set] });
    const scheduler = podSpec(find(objects, 'Deployment', '-scheduler')).containers[0] as Container;
    assert.equal(env(scheduler).get('HIKYAKU_SCHEDULER_GATHER_MS')?.value, value);
  }
});

describe('every feature on', () => {
  test('the ingress listens on 25, 587 and 465 with the certificate cert-manager writes', async () => {
    const objects = await render({ valuesFiles: [ALL_FEATURES_VALUES] });
    const service = find(objects, 'Service', '-ingress').spec as {
      type: string;
      externalTrafficPolicy: string;
      ports: { name: string; port: number; targetPort: string; nodePort: number }[];
    };
    assert.equal(service.type, 'LoadBalancer');
    assert.equal(service.externalTrafficPolicy, 'Local');
    assert.deepEqual(
      service.ports.map((p) => [p.name, p.port, p.targetPort, p.nodePort]),
      [
        ['smtp', 25, 'smtp', 30025],
        ['submission', 587, 'submission', 30587],
        ['smtps', 465, 'smtps', 30465],
      ],
    );
    const spec = podSpec(find(objects, 'Deployment', '-ingress'));
    const c = spec.containers[0] as Container;
    const e = env(c);
    assert.equal(e.get('HIKYAKU_LISTENERS')?.value, 'relay,submission,smtps');
    assert.equal(e.get('HIKYAKU_HOSTNAME')?.value, 'smtp.example.com');
    const scheduler = podSpec(find(objects, 'Deployment', '-scheduler')).containers[0] as Container;
    assert.equal(env(scheduler).get('HIKYAKU_REPORTING_MTA')?.value, 'smtp.example.com');
    assert.deepEqual(
      c.ports?.map((p) => p.containerPort),
      [2525, 2587, 2465, 9101],
    );
    const certificate = find(objects, 'Certificate').spec as {
      secretName: string;
      dnsNames: string[];
    };
    const volume = spec.volumes?.find((v) => v.secret)?.secret?.secretName;
    assert.equal(volume, certificate.secretName);
    assert.equal(e.get('HIKYAKU_TLS_CERT_FILE')?.value, '/etc/hikyaku/tls/tls.crt');
    assert.deepEqual(certificate.dnsNames, ['smtp.example.com', 'submit.example.com']);
  });

  test('connection settings come from Secrets, and the sender image is pinned by digest', async () => {
    const objects = await render({ valuesFiles: [ALL_FEATURES_VALUES] });
    const operator = env(
      podSpec(find(objects, 'Deployment', '-operator')).containers[0] as Container,
    );
    for (const name of ['NATS_URL', 'NATS_USER', 'NATS_PASSWORD', 'REDIS_URL']) {
      assert.ok(operator.get(name)?.valueFrom, `${name} is not read from a Secret`);
    }
    assert.match(
      operator.get('HIKYAKU_SENDER_IMAGE')?.value ?? '',
      /^registry\.example\.com\/mail\/hikyaku@sha256:[0-9a-f]{64}$/,
    );
    assert.equal(operator.get('HIKYAKU_WATCH_NAMESPACE')?.value, 'mail');
    assert.equal(operator.get('HIKYAKU_SENDER_MEMORY_LIMIT')?.value, '1Gi');
    assert.equal(operator.get('HIKYAKU_SENDER_GRACE_SECONDS')?.value, '120');
    assert.equal(operator.get('HIKYAKU_SENDER_SMTP_PIPELINING')?.value, 'off');
  });

  test('a NATS token from a Secret replaces user and password', async () => {
    const objects = await render({
      set: ['nats.auth.existingSecret=nats-token', 'nats.auth.tokenKey=token'],
    });
    const e = env(podSpec(find(objects, 'Deployment', '-scheduler')).containers[0] as Container);
    assert.deepEqual(e.get('NATS_TOKEN')?.valueFrom, {
      secretKeyRef: { name: 'nats-token', key: 'token' },
    });
    assert.equal(e.get('NATS_USER'), undefined);
  });

  test('a TLS Secret of the user is mounted as is, with no Certificate', async () => {
    const objects = await render({
      set: ['ingress.tls.enabled=true', 'ingress.tls.secretName=smtp-tls'],
    });
    assert.equal(objects.filter((o) => o.kind === 'Certificate').length, 0);
    const spec = podSpec(find(objects, 'Deployment', '-ingress'));
    assert.equal(spec.volumes?.find((v) => v.secret)?.secret?.secretName, 'smtp-tls');
  });
});

describe('prometheus-operator objects', () => {
  const monitoringKinds = (objects: KubeObject[]) =>
    objects
      .filter((o) => o.apiVersion === MONITORING_API)
      .map((o) => o.kind)
      .sort();

  test('are left out while the cluster does not serve monitoring.coreos.com/v1', async () => {
    assert.deepEqual(monitoringKinds(await render()), []);
  });

  test('are rendered when it does: a ServiceMonitor per component, a PodMonitor for senders, the rules', async () => {
    assert.deepEqual(monitoringKinds(await render({ apiVersions: [MONITORING_API] })), [
      'PodMonitor',
      'PrometheusRule',
      'ServiceMonitor',
      'ServiceMonitor',
      'ServiceMonitor',
    ]);
  });

  test('are rendered without the API when a value forces them, and never when told so', async () => {
    const forced = await render({
      set: ['monitoring.serviceMonitor.create=always', 'monitoring.prometheusRule.create=always'],
    });
    assert.equal(monitoringKinds(forced).length, 5);
    const never = await render({
      apiVersions: [MONITORING_API],
      set: ['monitoring.serviceMonitor.create=never', 'monitoring.prometheusRule.create=never'],
    });
    assert.deepEqual(monitoringKinds(never), []);
  });

  test('each ServiceMonitor selects exactly one ops Service by its labels', async () => {
    const objects = await render({ apiVersions: [MONITORING_API] });
    const services = objects.filter((o) => o.kind === 'Service');
    for (const monitor of objects.filter((o) => o.kind === 'ServiceMonitor')) {
      const spec = monitor.spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string }[];
      };
      const selected = services.filter((s) =>
        Object.entries(spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
      );
      const [service] = selected;
      assert.ok(service && selected.length === 1, monitor.metadata.name);
      const ports = (service.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
      assert.ok(ports.includes(spec.endpoints[0]?.port as string), monitor.metadata.name);
    }
  });

  test('every alert can be switched off by name and is explained in docs/observability.md', async () => {
    const rule = find(await render({ apiVersions: [MONITORING_API] }), 'PrometheusRule');
    const alerts = (rule.spec as { groups: { rules: { alert: string }[] }[] }).groups
      .flatMap((g) => g.rules.map((r) => r.alert))
      .sort();
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'));
    const names = schema.properties.monitoring.properties.prometheusRule.properties.disabledAlerts
      .items.enum as string[];
    assert.deepEqual([...names].sort(), alerts);
    const docs = readFileSync(join(REPO_ROOT, 'docs/observability.md'), 'utf8');
    const documented = [...docs.matchAll(/^\| `(Hikyaku\w+)`/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, alerts);
  });

  test('an alert can be switched off, and a group with none left disappears', async () => {
    const objects = await render({
      apiVersions: [MONITORING_API],
      set: [
        'monitoring.prometheusRule.disabledAlerts={HikyakuIngressRefusing,HikyakuBounceRateHigh}',
      ],
    });
    const groups = (
      find(objects, 'PrometheusRule').spec as {
        groups: { name: string; rules: { alert: string }[] }[];
      }
    ).groups;
    const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert));
    assert.ok(!alerts.includes('HikyakuIngressRefusing'));
    assert.ok(!alerts.includes('HikyakuBounceRateHigh'));
    assert.ok(alerts.includes('HikyakuIpThrottled'));
    assert.ok(!groups.some((g) => g.name === 'hikyaku.ingress'));
  });
});

type Schema = {
  $ref?: string;
  allOf?: Schema[];
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  description?: string;
};

test('values.schema.json declares every value of values.yaml, and values.yaml every required one', () => {
  const schema = JSON.parse(
    readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'),
  ) as Schema & {
    definitions: Record<string, Schema>;
  };
  const values = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as unknown;
  const resolveRef = (node: Schema): Schema => {
    if (node.$ref)
      return resolveRef(schema.definitions[node.$ref.replace('#/definitions/', '')] as Schema);
    if (node.allOf?.length === 1) return resolveRef(node.allOf[0] as Schema);
    return node;
  };
  const problems: string[] = [];
  const walk = (value: unknown, node: Schema, path: string): void => {
    const s = resolveRef(node);
    if (!s.properties || value === null || typeof value !== 'object' || Array.isArray(value))
      return;
    if (s.additionalProperties !== false)
      problems.push(`${path}: the schema allows keys it does not name`);
    for (const [key, child] of Object.entries(value)) {
      const declared = s.properties[key];
      if (!declared) problems.push(`${path}.${key}: not in values.schema.json`);
      else walk(child, declared, `${path}.${key}`);
    }
    for (const key of s.required ?? []) {
      if (!(key in value))
        problems.push(`${path}.${key}: required by the schema, missing from values.yaml`);
    }
  };
  walk(values, schema, 'values');
  assert.deepEqual(problems, []);
});

describe('values the chart refuses', () => {
  const refused: [string, string[], RegExp][] = [
    ['a count that is not a number', ['ingress.replicas=two'], /ingress\.replicas: Invalid type/],
    [
      'a key the chart does not know',
      ['ingress.bogus=1'],
      /Additional property bogus is not allowed/,
    ],
    [
      'a Service type that does not exist',
      ['ingress.service.type=Ingress'],
      /ingress\.service\.type/,
    ],
    ['an ops port a non-root process cannot bind', ['scheduler.opsPort=80'], /scheduler\.opsPort/],
    ['a Redis URL of another scheme', ['redis.url=http://valkey:6379'], /redis\.url/],
    ['a NATS URL of another scheme', ['nats.url=http://nats:4222'], /nats\.url/],
    ['a digest that is not sha256', ['image.digest=latest'], /image\.digest/],
    ['stream replicas beyond 5', ['nats.streamReplicas=7'], /nats\.streamReplicas/],
    [
      'NATS credentials naming only a user',
      ['nats.auth.existingSecret=s', 'nats.auth.userKey=u'],
      /nats\.auth/,
    ],
    [
      'an alert name that does not exist',
      ['monitoring.prometheusRule.disabledAlerts={Nope}'],
      /disabledAlerts/,
    ],
    [
      'a monitoring mode other than auto/always/never',
      ['monitoring.serviceMonitor.create=true'],
      /serviceMonitor\.create/,
    ],
    [
      'sender resources other than cpu and memory',
      ['sender.resources.limits.gpu=1'],
      /Additional property gpu/,
    ],
    ['no NATS at all', ['nats.url='], /nats/],
    [
      'a NetworkPolicy switch that is not a boolean',
      ['networkPolicy.enabled=yes'],
      /networkPolicy\.enabled: Invalid type/,
    ],
    [
      'a NetworkPolicy peer with a misspelt selector',
      ['networkPolicy.metricsFrom[0].podSelectr.matchLabels.app=prometheus'],
      /Additional property podSelectr/,
    ],
    [
      'a NetworkPolicy peer that is both pods and an ipBlock',
      [
        'networkPolicy.ingress.smtpFrom[0].ipBlock.cidr=10.0.0.0/8',
        'networkPolicy.ingress.smtpFrom[0].podSelector.matchLabels.app=shop',
      ],
      /networkPolicy\.ingress\.smtpFrom\.0/,
    ],
    [
      'a NetworkPolicy ipBlock without a prefix length',
      ['networkPolicy.ingress.smtpFrom[0].ipBlock.cidr=10.0.0.1'],
      /smtpFrom\.0\.ipBlock\.cidr/,
    ],
    ['a wire version this release does not write', ['wireVersion=3'], /wireVersion/],
  ];
  for (const [what, set, message] of refused) {
    test(what, async () => {
      assert.match(await renderError({ set }), message);
    });
  }

  test('TLS switched on without a Secret or cert-manager', async () => {
    assert.match(
      await renderError({ set: ['ingress.tls.enabled=true'] }),
      /ingress\.tls\.enabled needs ingress\.tls\.secretName or ingress\.tls\.certManager\.enabled/,
    );
  });

  test('a cert-manager Certificate without an issuer', async () => {
    assert.match(
      await renderError({
        set: [
          'ingress.tls.enabled=true',
          'ingress.tls.certManager.enabled=true',
          'ingress.tls.certManager.dnsNames={smtp.example.com}',
        ],
      }),
      /issuerRef\.name is required/,
    );
  });
});

test('NOTES.txt tells the next steps: create a RelayPool, send a test message', async () => {
  // helm template does not render NOTES.txt; a copy of the chart renders it into a ConfigMap.
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-chart-'));
  try {
    cpSync(CHART_DIR, dir, { recursive: true });
    writeFileSync(
      join(dir, 'templates/zz-notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include "hikyaku/templates/NOTES.txt" . | quote }}\n',
    );
    const objects = await render({ chartDir: dir });
    const notes = (find(objects, 'ConfigMap', 'notes').data as { notes: string }).notes;
    assert.match(notes, /kind: RelayPool/);
    assert.match(notes, /swaks --server relay-hikyaku-ingress\.mail-relay\.svc:25/);
    assert.match(notes, /TLS is off/);
    assert.match(notes, /no ServiceMonitor was rendered/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('autoscaling', () => {
  test('is off by default: the Deployments carry their replicas', async () => {
    const objects = await render();
    assert.equal(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').length, 0);
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      assert.equal(typeof (d.spec as { replicas?: number }).replicas, 'number');
    }
  });

  test('scales the ingress and the scheduler on CPU and leaves them their replica count', async () => {
    const p = `${RELEASE}-hikyaku`;
    const objects = await render({
      set: [
        'ingress.autoscaling.enabled=true',
        'scheduler.autoscaling.enabled=true',
        'scheduler.autoscaling.maxReplicas=4',
      ],
    });
    const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
    assert.deepEqual(hpas.map((h) => h.metadata.name).sort(), [`${p}-ingress`, `${p}-scheduler`]);
    for (const hpa of hpas) {
      const spec = hpa.spec as {
        scaleTargetRef: { kind: string; name: string };
        minReplicas: number;
        maxReplicas: number;
        metrics: { resource: { name: string; target: { averageUtilization: number } } }[];
      };
      assert.equal(spec.scaleTargetRef.kind, 'Deployment');
      assert.equal(spec.scaleTargetRef.name, hpa.metadata.name);
      assert.equal(spec.metrics[0]?.resource.name, 'cpu');
      assert.equal(spec.metrics[0]?.resource.target.averageUtilization, 70);
      const target = objects.find(
        (o) => o.kind === 'Deployment' && o.metadata.name === hpa.metadata.name,
      );
      assert.ok(target, `${hpa.metadata.name} scales a Deployment of the chart`);
      assert.equal((target.spec as { replicas?: number }).replicas, undefined);
    }
    const scheduler = hpas.find((h) => h.metadata.name === `${p}-scheduler`);
    assert.equal((scheduler?.spec as { maxReplicas?: number } | undefined)?.maxReplicas, 4);
    const operator = objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.name === `${p}-operator`,
    );
    assert.equal((operator?.spec as { replicas?: number } | undefined)?.replicas, 1);
  });

  test('refuses fewer maximum than minimum replicas', async () => {
    assert.match(
      await renderError({
        set: ['scheduler.autoscaling.enabled=true', 'scheduler.autoscaling.maxReplicas=1'],
      }),
      /scheduler\.autoscaling\.minReplicas is larger than maxReplicas/,
    );
  });
});
