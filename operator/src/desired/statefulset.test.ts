import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readOperatorConfig } from '../config.ts';
import type { RelayPoolObject } from '../kube/objects.ts';
import {
  buildConnectionSecret,
  connectionSecretCurrent,
  connectionVersion,
} from './connection-secret.ts';
import { LABELS } from './labels.ts';
import { isOwnedBy } from './ownership.ts';
import {
  ANNOTATIONS,
  buildSenderStatefulSet,
  type SenderStatefulSetInput,
  statefulSetNeedsUpdate,
} from './statefulset.ts';
import { mergeTemplate } from './template-merge.ts';

const config = readOperatorConfig({
  HIKYAKU_SENDER_IMAGE: 'registry.example/hikyaku:1.2.3',
  HIKYAKU_LEADER_ELECTION: 'false',
  NATS_URL: 'nats://nats.mail:4222',
  REDIS_URL: 'redis://redis.mail:6379',
});

function pool(template?: Record<string, unknown>): RelayPoolObject {
  return {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'tx', namespace: 'mail', uid: 'uid-1', resourceVersion: '5', generation: 2 },
    spec: {
      ips: [{ address: '192.0.2.1', hostname: 'mta1.example.com' }],
      ...(template ? { senders: { template } } : {}),
    },
  };
}

function input(overrides: Partial<SenderStatefulSetInput> = {}): SenderStatefulSetInput {
  return {
    pool: pool(),
    replicas: 2,
    sender: config.sender,
    dkimSecrets: [],
    dkimVersion: '',
    ...overrides,
  };
}

const env = (sts: ReturnType<typeof buildSenderStatefulSet>) =>
  Object.fromEntries(
    (sts.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [
      e.name,
      e.value ?? e.valueFrom,
    ]),
  );

describe('buildSenderStatefulSet', () => {
  it('runs `hikyaku sender` from the configured image, owned by the pool', () => {
    const sts = buildSenderStatefulSet(input());
    assert.equal(sts.metadata?.name, 'tx-sender');
    assert.equal(sts.metadata?.namespace, 'mail');
    assert.equal(sts.spec?.replicas, 2);
    assert.deepEqual(sts.metadata?.ownerReferences, [
      {
        apiVersion: 'hikyaku.io/v1alpha1',
        kind: 'RelayPool',
        name: 'tx',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    const container = sts.spec?.template.spec?.containers[0];
    assert.equal(container?.image, 'registry.example/hikyaku:1.2.3');
    assert.deepEqual(container?.args, ['sender']);
    assert.deepEqual(container?.resources, {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { memory: '512Mi' },
    });
    assert.deepEqual(container?.envFrom, [{ secretRef: { name: 'tx-sender-connection' } }]);
    assert.deepEqual(env(sts), {
      HIKYAKU_POOL: 'mail_tx',
      HIKYAKU_POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      HIKYAKU_HTTP_PORT: '9103',
      HIKYAKU_LOG_LEVEL: 'info',
      HIKYAKU_STREAM_REPLICAS: '1',
      HIKYAKU_SHUTDOWN_GRACE_MS: '25000',
    });
    assert.deepEqual(sts.spec?.selector.matchLabels, {
      [LABELS.managedBy]: 'hikyaku-operator',
      [LABELS.component]: 'sender',
      [LABELS.pool]: 'tx',
    });
    assert.equal(sts.spec?.template.spec?.automountServiceAccountToken, false);
  });

  it("passes the operator's HIKYAKU_WIRE_VERSION on to the sender pods", () => {
    const two = readOperatorConfig({
      HIKYAKU_SENDER_IMAGE: 'registry.example/hikyaku:1.2.3',
      HIKYAKU_LEADER_ELECTION: 'false',
      HIKYAKU_WIRE_VERSION: '2',
    });
    assert.equal(
      env(buildSenderStatefulSet(input({ sender: two.sender }))).HIKYAKU_WIRE_VERSION,
      '2',
    );
    assert.equal(env(buildSenderStatefulSet(input())).HIKYAKU_WIRE_VERSION, undefined);
    assert.throws(
      () =>
        readOperatorConfig({
          HIKYAKU_SENDER_IMAGE: 'registry.example/hikyaku:1.2.3',
          HIKYAKU_LEADER_ELECTION: 'false',
          HIKYAKU_WIRE_VERSION: '3',
        }),
      /HIKYAKU_WIRE_VERSION must be one of 1, 2, got "3"/,
    );
  });

  it('turns pipelining off in the sender pods when the operator is told to', () => {
    const off = readOperatorConfig({
      HIKYAKU_SENDER_IMAGE: 'registry.example/hikyaku:1.2.3',
      HIKYAKU_LEADER_ELECTION: 'false',
      HIKYAKU_SENDER_SMTP_PIPELINING: 'off',
    });
    assert.equal(
      env(buildSenderStatefulSet(input({ sender: off.sender }))).HIKYAKU_SMTP_PIPELINING,
      'off',
    );
    assert.equal(env(buildSenderStatefulSet(input())).HIKYAKU_SMTP_PIPELINING, undefined);
    assert.throws(
      () =>
        readOperatorConfig({
          HIKYAKU_SENDER_IMAGE: 'registry.example/hikyaku:1.2.3',
          HIKYAKU_LEADER_ELECTION: 'false',
          HIKYAKU_SENDER_SMTP_PIPELINING: 'no',
        }),
      /HIKYAKU_SENDER_SMTP_PIPELINING must be one of on, off, got "no"/,
    );
  });

  it('mounts each DKIM Secret where the compiled policy looks for it', () => {
    const sts = buildSenderStatefulSet(
      input({ dkimSecrets: ['dkim-a', 'dkim-b'], dkimVersion: 'v1' }),
    );
    const spec = sts.spec?.template.spec;
    assert.deepEqual(
      spec?.volumes?.filter((v) => v.secret).map((v) => [v.name, v.secret?.secretName]),
      [
        ['dkim-0', 'dkim-a'],
        ['dkim-1', 'dkim-b'],
      ],
    );
    assert.deepEqual(
      spec?.containers[0]?.volumeMounts?.map((m) => [m.name, m.mountPath, m.readOnly]),
      [
        ['tmp', '/tmp', undefined],
        ['dkim-0', '/etc/hikyaku/dkim/dkim-a', true],
        ['dkim-1', '/etc/hikyaku/dkim/dkim-b', true],
      ],
    );
    assert.equal(sts.spec?.template.metadata?.annotations?.[ANNOTATIONS.dkimVersion], 'v1');
  });

  it('mounts each webhook Secret where the compiled policy looks for it', () => {
    const sts = buildSenderStatefulSet(
      input({ dkimSecrets: ['dkim-a'], dkimVersion: 'v1', webhookSecrets: ['hooks'] }),
    );
    const spec = sts.spec?.template.spec;
    assert.deepEqual(
      spec?.volumes?.filter((v) => v.secret).map((v) => [v.name, v.secret?.secretName]),
      [
        ['dkim-0', 'dkim-a'],
        ['webhook-0', 'hooks'],
      ],
    );
    assert.deepEqual(
      spec?.containers[0]?.volumeMounts?.slice(2).map((m) => [m.name, m.mountPath, m.readOnly]),
      [['webhook-0', '/etc/hikyaku/webhooks/hooks', true]],
    );
  });

  it('runs sender pods hardened: non-root, read-only root file system, a scratch /tmp', () => {
    const spec = buildSenderStatefulSet(input({})).spec?.template.spec;
    assert.equal(spec?.securityContext?.runAsNonRoot, true);
    assert.equal(spec?.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    const container = spec?.containers[0];
    assert.equal(container?.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container?.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container?.securityContext?.capabilities?.drop, ['ALL']);
    assert.ok(spec?.volumes?.some((v) => v.name === 'tmp' && v.emptyDir));
  });

  it('merges the pool template, but keeps the selector labels and the pool environment', () => {
    const sts = buildSenderStatefulSet(
      input({
        pool: pool({
          metadata: { labels: { team: 'mail', [LABELS.pool]: 'other' }, annotations: { a: 'b' } },
          spec: {
            hostNetwork: true,
            nodeSelector: { 'mail.example.com/ips': 'yes' },
            tolerations: [{ key: 'mail', operator: 'Exists' }],
            containers: [
              {
                name: 'sender',
                resources: { limits: { memory: '1Gi' } },
                env: [
                  { name: 'HIKYAKU_DNS_SERVERS', value: '10.0.0.10' },
                  { name: 'HIKYAKU_POOL', value: 'hijacked' },
                  { name: 'REDIS_URL', value: 'redis://elsewhere' },
                ],
              },
            ],
          },
        }),
      }),
    );
    const t = sts.spec?.template;
    assert.equal(t?.metadata?.labels?.team, 'mail');
    assert.equal(t?.metadata?.labels?.[LABELS.pool], 'tx');
    assert.equal(t?.metadata?.annotations?.a, 'b');
    assert.equal(t?.spec?.hostNetwork, true);
    assert.deepEqual(t?.spec?.nodeSelector, { 'mail.example.com/ips': 'yes' });
    assert.equal(t?.spec?.containers.length, 1);
    const c = t?.spec?.containers[0];
    assert.deepEqual(c?.resources, {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { memory: '1Gi' },
    });
    assert.equal(c?.image, 'registry.example/hikyaku:1.2.3', 'what the template leaves out stays');
    const e = env(sts);
    assert.equal(e.HIKYAKU_DNS_SERVERS, '10.0.0.10');
    assert.equal(e.HIKYAKU_POOL, 'mail_tx');
    assert.equal(e.REDIS_URL, undefined, 'the connection comes from its Secret only');
  });

  it('needs an update exactly when something it sets changed', () => {
    const desired = buildSenderStatefulSet(input());
    const live = structuredClone(desired);
    live.status = { replicas: 2, readyReplicas: 2 };
    assert.equal(statefulSetNeedsUpdate(live, desired), false);
    assert.equal(
      statefulSetNeedsUpdate(live, buildSenderStatefulSet(input({ replicas: 3 }))),
      true,
    );
    assert.equal(
      statefulSetNeedsUpdate(
        live,
        buildSenderStatefulSet(input({ dkimSecrets: ['k'], dkimVersion: 'x' })),
      ),
      true,
    );
    const edited = structuredClone(live);
    edited.spec!.template.spec!.containers[0]!.image = 'someone/else:latest';
    assert.equal(statefulSetNeedsUpdate(edited, desired), true, 'a hand edit is put right');
    assert.equal(isOwnedBy(live, 'uid-1'), true);
    assert.equal(isOwnedBy(live, 'uid-2'), false);
  });
});

describe('mergeTemplate', () => {
  it('merges objects, named lists by name, and replaces other lists', () => {
    const base = {
      spec: {
        args: ['a'],
        containers: [
          { name: 'x', env: [{ name: 'A', value: '1' }], image: 'i' },
          { name: 'y', image: 'j' },
        ],
      },
    };
    const merged = mergeTemplate(base, {
      spec: {
        args: ['b'],
        containers: [
          { name: 'x', env: [{ name: 'B', value: '2' }] },
          { name: 'z', image: 'k' },
        ],
      },
    });
    assert.deepEqual(merged, {
      spec: {
        args: ['b'],
        containers: [
          {
            name: 'x',
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
            image: 'i',
          },
          { name: 'y', image: 'j' },
          { name: 'z', image: 'k' },
        ],
      },
    });
    assert.deepEqual(base.spec.args, ['a'], 'the base is not changed');
  });
});

describe('buildConnectionSecret', () => {
  it('holds the connection, owned by the pool; the pods carry only its version', () => {
    const secret = buildConnectionSecret(pool(), {
      NATS_URL: 'nats://nats.mail:4222',
      REDIS_URL: 'redis://:pw@redis.mail:6379',
    });
    assert.equal(secret.metadata?.name, 'tx-sender-connection');
    assert.equal(secret.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
    assert.equal(
      Buffer.from(secret.data?.REDIS_URL ?? '', 'base64').toString(),
      'redis://:pw@redis.mail:6379',
    );
    const sts = buildSenderStatefulSet(input());
    const text = JSON.stringify(sts);
    assert.ok(!text.includes('redis.mail'), 'no connection value in the StatefulSet');
    const version = sts.spec?.template.metadata?.annotations?.[ANNOTATIONS.connectionVersion];
    assert.equal(version, connectionVersion(config.sender.connection));
    assert.notEqual(version, connectionVersion({ ...config.sender.connection, NATS_TOKEN: 'x' }));
    assert.equal(connectionSecretCurrent(secret, structuredClone(secret)), true);
    const changed = buildConnectionSecret(pool(), { NATS_URL: 'nats://other:4222' });
    assert.equal(connectionSecretCurrent(secret, changed), false);
  });
});
