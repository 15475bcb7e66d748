import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deriveReturnPathKey, verifyPassword } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  basicSpec,
  type OperatorFixture,
  type RunningOperator,
  startOperatorFixture,
} from './harness.ts';

let fx: OperatorFixture;
let op: RunningOperator;

before(async () => {
  fx = await startOperatorFixture();
  op = await fx.startOperator();
  await waitFor('the operator to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
});
after(() => fx.stop());

const submitters = [
  {
    username: 'shop-app',
    passwordSecretRef: { name: 'shop-smtp', key: 'password' },
    allowedSenderDomains: ['shop.example.com'],
  },
];

function putSecret(name: string, data: Record<string, string>) {
  return fx.core.createNamespacedSecret({
    namespace: fx.namespace,
    body: { metadata: { name }, stringData: data },
  });
}

describe('submitter passwords', () => {
  it('a missing Secret makes the pool Ready=False with a reason and message, until it appears', async () => {
    const created = await fx.createPool('auth', basicSpec(10, { submitters }));
    const blocked = await fx.waitForCondition(
      'auth',
      'Ready',
      (c) => c.status === 'False' && c.reason === 'SecretMissing',
      'Ready=False SecretMissing',
    );
    const ready = blocked.status!.conditions!.find((c) => c.type === 'Ready')!;
    assert.match(
      ready.message,
      new RegExp(
        `Secret ${fx.namespace}/shop-smtp \\(password of submitter shop-app\\) does not exist: create it, or fix spec\\.submitters\\[0\\]\\.passwordSecretRef`,
      ),
    );
    const degraded = blocked.status!.conditions!.find((c) => c.type === 'Degraded')!;
    assert.equal(`${degraded.status}/${degraded.reason}`, 'True/SecretMissing');
    assert.equal(blocked.status?.observedGeneration, created.metadata.generation);
    assert.equal(await fx.published('auth'), undefined, 'nothing half-resolved is published');

    await putSecret('shop-smtp', { password: 's3cret-one\n' });
    await fx.waitForCondition('auth', 'Ready', (c) => c.status === 'True', 'recovery');
    const published = await fx.published('auth');
    const hash = published?.submitters[0]?.passwordHash;
    assert.ok(hash?.startsWith('$scrypt$'), 'a salted scrypt hash is published');
    assert.ok(!JSON.stringify(published).includes('s3cret-one'), 'never the password');
    assert.equal(
      await verifyPassword('s3cret-one', hash!),
      true,
      'one trailing line break is not part of it',
    );
  });

  it('publishes a new hash when the Secret changes, and the same one otherwise', async () => {
    const before = (await fx.published('auth'))!.submitters[0]!.passwordHash!;
    const revision = (await fx.kv.get(`pool.${fx.namespace}_auth`))!.revision;
    // A spec change that does not touch the submitter keeps its hash.
    await fx.patchSpec('auth', { maxRecipients: 10 });
    await waitFor(
      'the new generation',
      async () => (await fx.published('auth'))?.maxRecipients === 10,
    );
    assert.equal((await fx.published('auth'))!.submitters[0]!.passwordHash, before);
    assert.ok((await fx.kv.get(`pool.${fx.namespace}_auth`))!.revision > revision);

    await fx.core.patchNamespacedSecret(
      { namespace: fx.namespace, name: 'shop-smtp', body: { stringData: { password: 'rotated' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const rotated = await waitFor('the rotated hash', async () => {
      const hash = (await fx.published('auth'))?.submitters[0]?.passwordHash;
      return hash && hash !== before ? hash : undefined;
    });
    assert.equal(await verifyPassword('rotated', rotated), true);
  });

  it('a new operator keeps the published hash: the policy is not rewritten', async () => {
    const key = `pool.${fx.namespace}_auth`;
    const before = await fx.kv.get(key);
    await op.stop({ release: true });
    op = await fx.startOperator({ user: 'successor' });
    await waitFor('the successor to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
    // Its first reconcile of every pool is a full one: it remembers nothing yet.
    await waitFor('the successor to reconcile', async () => {
      const metric = await op.registry.getSingleMetric('hikyaku_operator_reconcile_total')?.get();
      return metric?.values.some((v) => v.labels.result === 'success' && v.value > 0);
    });
    const after = await fx.kv.get(key);
    assert.equal(after?.revision, before?.revision);
  });

  it('an empty password or a missing key is reported by name', async () => {
    await putSecret('empty-smtp', { password: '', other: 'x' });
    await fx.createPool(
      'empty',
      basicSpec(20, {
        submitters: [
          { username: 'a', passwordSecretRef: { name: 'empty-smtp', key: 'password' } },
          { username: 'b', passwordSecretRef: { name: 'empty-smtp', key: 'pass' } },
        ],
      }),
    );
    const pool = await fx.waitForCondition(
      'empty',
      'Ready',
      (c) => c.reason === 'PasswordEmpty',
      'PasswordEmpty',
    );
    const message = pool.status!.conditions!.find((c) => c.type === 'Ready')!.message;
    assert.match(message, /the password of submitter a in Secret .*\/empty-smtp is empty/);
    assert.match(message, /Secret .*\/empty-smtp has no key "pass" \(password of submitter b\)/);
  });
});

describe('DKIM keys', () => {
  const dkim = [
    {
      domain: 'shop.example.com',
      selector: 's2026',
      privateKeySecretRef: { name: 'dkim-shop', key: 'private.pem' },
    },
  ];

  it('an invalid key is reported; a valid one is mounted into the sender pods', async () => {
    await putSecret('dkim-shop', { 'private.pem': '-----BEGIN PRIVATE KEY-----\nnot a key\n' });
    await fx.createPool('signed', basicSpec(30, { dkim }));
    const bad = await fx.waitForCondition(
      'signed',
      'Ready',
      (c) => c.reason === 'DkimKeyInvalid',
      'DkimKeyInvalid',
    );
    assert.match(
      bad.status!.conditions!.find((c) => c.type === 'Degraded')!.message,
      /the DKIM key of shop\.example\.com \(Secret .*\/dkim-shop, key "private\.pem"\) is not usable/,
    );

    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await fx.core.replaceNamespacedSecret({
      namespace: fx.namespace,
      name: 'dkim-shop',
      body: { metadata: { name: 'dkim-shop' }, stringData: { 'private.pem': pem } },
    });
    await fx.waitForCondition('signed', 'Ready', (c) => c.status === 'True', 'a usable key');
    const sts = await fx.statefulSet('signed');
    const volume = sts?.spec?.template.spec?.volumes?.find(
      (v) => v.secret?.secretName === 'dkim-shop',
    );
    assert.ok(volume, 'the Secret is a volume of the sender pods');
    const mount = sts?.spec?.template.spec?.containers[0]?.volumeMounts?.find(
      (m) => m.name === volume.name,
    );
    const published = await fx.published('signed');
    assert.equal(published?.dkim[0]?.keyFile, `${mount?.mountPath}/private.pem`);
    const version = sts?.spec?.template.metadata?.annotations?.['hikyaku.io/dkim-version'];
    assert.ok(version, 'the pods carry the keys version');
  });
});

describe('Secrets the operator does not watch', () => {
  it('a connection Secret it did not make is a NameConflict until it is deleted', async () => {
    await putSecret('clash-sender-connection', { NATS_URL: 'nats://elsewhere:4222' });
    await fx.createPool('clash', basicSpec(40));
    const conflict = await fx.waitForCondition(
      'clash',
      'Ready',
      (c) => c.reason === 'NameConflict',
      'NameConflict',
    );
    assert.match(
      conflict.status!.conditions!.find((c) => c.type === 'Ready')!.message,
      /Secret .*\/clash-sender-connection exists and does not belong to this pool/,
    );
    // Its deletion sends the operator no event (it does not watch that Secret): it retries.
    await fx.core.deleteNamespacedSecret({
      namespace: fx.namespace,
      name: 'clash-sender-connection',
    });
    await fx.waitForCondition('clash', 'Ready', (c) => c.status === 'True', 'recovery');
  });
});

describe('the return path signing key', () => {
  it('is read from its Secret and published only as the pool key derived from it', async () => {
    const feedback = {
      bounceDomain: 'bounces.example.com',
      signingKeySecretRef: { name: 'return-path', key: 'secret' },
    };
    await fx.createPool('fb', basicSpec(50, { feedback }));
    const blocked = await fx.waitForCondition(
      'fb',
      'Ready',
      (c) => c.status === 'False' && c.reason === 'SecretMissing',
      'Ready=False SecretMissing',
    );
    const ready = blocked.status!.conditions!.find((c) => c.type === 'Ready')!;
    assert.match(ready.message, /return path signing key.*spec\.feedback\.signingKeySecretRef/);

    await putSecret('return-path', { secret: 'rp-secret\n' });
    await fx.waitForCondition('fb', 'Ready', (c) => c.status === 'True', 'recovery');
    const published = await fx.published('fb');
    assert.equal(
      published?.feedback?.signingKey,
      deriveReturnPathKey('rp-secret', `${fx.namespace}_fb`).toString('base64'),
    );
    assert.equal(published?.feedback?.complaintAddress, 'fbl@bounces.example.com');
    assert.ok(!JSON.stringify(published).includes('rp-secret'), 'never the secret');
  });
});

describe('webhook signing secrets', () => {
  it('are mounted into the sender pods where the policy reads them, never published', async () => {
    const webhooks = [
      {
        name: 'ops',
        url: 'https://hooks.example.com/in',
        events: ['bounced', 'complained'],
        secretKeyRef: { name: 'hook-secret', key: 'secret' },
      },
    ];
    await fx.createPool('hooked', basicSpec(60, { webhooks }));
    const blocked = await fx.waitForCondition(
      'hooked',
      'Ready',
      (c) => c.status === 'False' && c.reason === 'SecretMissing',
      'Ready=False SecretMissing',
    );
    const ready = blocked.status!.conditions!.find((c) => c.type === 'Ready')!;
    assert.match(ready.message, /signing secret of webhook ops.*spec\.webhooks\[0\]\.secretKeyRef/);

    await putSecret('hook-secret', { secret: 'whsec-operator\n' });
    await fx.waitForCondition('hooked', 'Ready', (c) => c.status === 'True', 'recovery');
    const sts = await fx.statefulSet('hooked');
    const volume = sts?.spec?.template.spec?.volumes?.find(
      (v) => v.secret?.secretName === 'hook-secret',
    );
    assert.ok(volume, 'the Secret is a volume of the sender pods');
    const mount = sts?.spec?.template.spec?.containers[0]?.volumeMounts?.find(
      (m) => m.name === volume.name,
    );
    const published = await fx.published('hooked');
    assert.equal(published?.webhooks?.[0]?.secretFile, `${mount?.mountPath}/secret`);
    assert.deepEqual(published?.webhooks?.[0]?.events, ['bounced', 'complained']);
    assert.ok(!JSON.stringify(published).includes('whsec-operator'), 'never the secret');
  });
});
