import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SUBJECTS } from '@hikyaku/core';
import { ACCESS, FINALIZER, requestAccess } from '@hikyaku/operator';
import { waitFor } from '@hikyaku/testing';
import {
  basicSpec,
  type OperatorFixture,
  REAL_CLUSTER,
  type RunningOperator,
  startOperatorFixture,
} from './harness.ts';

let fx: OperatorFixture;
let op: RunningOperator;

before(async () => {
  fx = await startOperatorFixture();
  op = await fx.startOperator({ user: 'operator-a' });
  await waitFor('the operator to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
});
after(() => fx.stop());

const ready = (name: string, generation: number) =>
  fx.waitForCondition(
    name,
    'Ready',
    (c, p) => c.status === 'True' && p.status?.observedGeneration === generation,
    `${name} Ready at generation ${generation}`,
  );

describe('a RelayPool through its life', () => {
  it('creating a pool yields the StatefulSet, the KV entry and Ready=True', async () => {
    const created = await fx.createPool('life', basicSpec(10));
    const pool = await ready('life', created.metadata.generation);
    assert.equal(pool.status?.observedGeneration, pool.metadata.generation);
    assert.deepEqual(pool.metadata.finalizers, [FINALIZER]);
    const conditions = Object.fromEntries(
      (pool.status?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]),
    );
    assert.deepEqual(conditions, {
      Ready: 'True/SendersReady',
      Progressing: 'False/RolloutComplete',
      Degraded: 'False/AsExpected',
    });

    const sts = await fx.statefulSet('life');
    assert.ok(sts, 'the StatefulSet exists');
    assert.equal(sts.spec?.replicas, 2);
    assert.equal(sts.metadata?.ownerReferences?.[0]?.uid, pool.metadata.uid);
    const container = sts.spec?.template.spec?.containers[0];
    assert.equal(container?.image, 'ghcr.io/hikyaku/hikyaku:test');
    assert.deepEqual(container?.args, ['sender']);
    const env = Object.fromEntries(
      (container?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]),
    );
    assert.equal(env.HIKYAKU_POOL, `${fx.namespace}_life`);
    assert.equal(env.NATS_URL, undefined, 'connection values are not in the pod spec');
    assert.deepEqual(container?.envFrom?.[0]?.secretRef?.name, 'life-sender-connection');
    const connection = await fx.core.readNamespacedSecret({
      namespace: fx.namespace,
      name: 'life-sender-connection',
    });
    assert.equal(Buffer.from(connection.data?.NATS_URL ?? '', 'base64').toString(), fx.natsUrl);
    assert.equal(connection.metadata?.ownerReferences?.[0]?.uid, pool.metadata.uid);
    assert.equal(
      (env.HIKYAKU_POD_NAME as { fieldRef?: { fieldPath?: string } }).fieldRef?.fieldPath,
      'metadata.name',
    );

    const published = await fx.published('life');
    assert.ok(published, 'the policy is in KV');
    assert.equal(published.generation, pool.metadata.generation);
    assert.deepEqual(
      published.ips.map((ip) => [ip.address, ip.pod]),
      [
        ['192.0.2.10', 'life-sender-0'],
        ['192.0.2.11', 'life-sender-1'],
      ],
    );
    assert.deepEqual(
      pool.status?.ips?.map((r) => [r.address, r.pod, r.state]),
      [
        ['192.0.2.10', 'life-sender-0', 'Active'],
        ['192.0.2.11', 'life-sender-1', 'Active'],
      ],
    );
    assert.equal(pool.status?.totalIps, 2);
    assert.equal(pool.status?.readySenders, 2);
  });

  it('leaves an unchanged pool alone: no API writes, no new KV revision', async () => {
    const key = `pool.${fx.namespace}_life`;
    const revision = (await fx.kv.get(key))?.revision;
    const writes = () =>
      (fx.api?.requests ?? []).filter(
        (r) => r.user === op.identity && r.method !== 'GET' && !r.path.includes('/leases/'),
      ).length;
    const before = writes();
    // Several status refreshes (every 500 ms here) and the same for the watches' events.
    await new Promise((resolve) => setTimeout(resolve, 1700));
    assert.equal(writes(), before);
    assert.equal((await fx.kv.get(key))?.revision, revision);
  });

  it('puts the sender connection Secret right when someone edits it', async () => {
    const where = { namespace: fx.namespace, name: 'life-sender-connection' };
    const edited = await fx.core.readNamespacedSecret(where);
    edited.data = { ...edited.data, NATS_URL: Buffer.from('nats://wrong:4222').toString('base64') };
    await fx.core.replaceNamespacedSecret({ ...where, body: edited });
    await waitFor('the Secret to be put right', async () => {
      const s = await fx.core.readNamespacedSecret(where);
      return Buffer.from(s.data?.NATS_URL ?? '', 'base64').toString() === fx.natsUrl;
    });
  });

  it('changing the spec updates the StatefulSet, the KV entry and the status', async () => {
    const patched = await fx.patchSpec('life', {
      senders: { ipsPerPod: 2, template: { metadata: { annotations: { team: 'mail' } } } },
      maxRecipients: 50,
    });
    const pool = await ready('life', patched.metadata.generation);
    const sts = await fx.statefulSet('life');
    assert.equal(sts?.spec?.replicas, 1);
    assert.equal(sts?.spec?.template.metadata?.annotations?.team, 'mail');
    const published = await fx.published('life');
    assert.equal(published?.generation, pool.metadata.generation);
    assert.equal(published?.maxRecipients, 50);
    assert.deepEqual(
      published?.ips.map((ip) => ip.pod),
      ['life-sender-0', 'life-sender-0'],
    );
    assert.equal(pool.status?.totalSenders, 1);
  });

  it('adding an IP scales the StatefulSet and publishes the new assignment', async () => {
    const patched = await fx.patchSpec('life', {
      senders: { ipsPerPod: 1 },
      ips: [...basicSpec(10).ips!, { address: '192.0.2.12', hostname: 'mta3.example.com' }],
    });
    await ready('life', patched.metadata.generation);
    assert.equal((await fx.statefulSet('life'))?.spec?.replicas, 3);
    const published = await fx.published('life');
    assert.deepEqual(
      published?.ips.map((ip) => [ip.address, ip.pod, ip.draining ?? false]),
      [
        ['192.0.2.10', 'life-sender-0', false],
        ['192.0.2.11', 'life-sender-1', false],
        ['192.0.2.12', 'life-sender-2', false],
      ],
    );
  });

  it('removing an IP drains it from the assignment first, then drops it', async () => {
    // A job still queued for the IP: the drain waits for its sender to take it.
    const job = SUBJECTS.job(`${fx.namespace}_life`, '192.0.2.12');
    await fx.nats.js.publish(job, new TextEncoder().encode('{}'));
    const patched = await fx.patchSpec('life', { ips: basicSpec(10).ips });
    const draining = await fx.waitForCondition(
      'life',
      'Progressing',
      (c, p) =>
        c.reason === 'DrainingIps' && p.status?.observedGeneration === patched.metadata.generation,
      'the IP to drain',
    );
    assert.match(
      draining.status!.conditions!.find((c) => c.type === 'Progressing')!.message,
      /192\.0\.2\.12 \(1 queued jobs\)/,
    );
    const during = await fx.published('life');
    assert.deepEqual(
      during?.ips.map((ip) => [ip.address, ip.pod, ip.draining ?? false]),
      [
        ['192.0.2.10', 'life-sender-0', false],
        ['192.0.2.11', 'life-sender-1', false],
        ['192.0.2.12', 'life-sender-2', true],
      ],
    );
    assert.equal((await fx.statefulSet('life'))?.spec?.replicas, 3, 'its pod stays meanwhile');
    assert.equal(draining.status?.ips?.find((r) => r.address === '192.0.2.12')?.state, 'Paused');

    // The sender takes the job: the queue is empty, the IP leaves, the pod goes.
    await fx.nats.jsm.streams.purge('HIKYAKU_JOBS', { filter: job });
    await waitFor('the IP to leave the policy', async () => {
      const p = await fx.published('life');
      return p?.ips.length === 2;
    });
    await fx.waitForCondition(
      'life',
      'Progressing',
      (c) => c.reason === 'RolloutComplete',
      'the drain to finish',
    );
    assert.equal((await fx.statefulSet('life'))?.spec?.replicas, 2);
  });

  it('does not assign an IP that an older pool holds, and says which pool', async () => {
    await fx.createPool('copycat', {
      ips: [
        { address: '192.0.2.40', hostname: 'mta1.copy.example.com' },
        { address: '192.0.2.10', hostname: 'mta2.copy.example.com' },
      ],
    });
    const pool = await fx.waitForCondition(
      'copycat',
      'Degraded',
      (c) => c.status === 'True' && c.reason === 'IpNotAssignable',
      'IpNotAssignable',
    );
    assert.match(
      pool.status!.conditions!.find((c) => c.type === 'Degraded')!.message,
      new RegExp(`192\\.0\\.2\\.10 is already used by RelayPool ${fx.namespace}/life`),
    );
    await fx.waitForCondition('copycat', 'Ready', (c) => c.status === 'True', 'the other IP ready');
    const published = await fx.published('copycat');
    assert.deepEqual(
      published?.ips.map((ip) => [ip.address, ip.pod]),
      [
        ['192.0.2.40', 'copycat-sender-0'],
        ['192.0.2.10', undefined],
      ],
    );
    const rows = (await fx.getPool('copycat'))?.status?.ips;
    assert.equal(rows?.find((r) => r.address === '192.0.2.10')?.state, 'Unassigned');
  });

  it('deleting removes the KV entry and then the finalizer', async () => {
    const { kv } = fx;
    const watch = await kv.watch({ key: `pool.${fx.namespace}_life` });
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of watch) {
        seen.push(e.operation);
        if (e.operation !== 'PUT') return;
      }
    })();
    await fx.deletePool('life');
    await waitFor('the pool to be gone', async () => (await fx.getPool('life')) === undefined);
    await watching;
    assert.equal(seen.at(-1), 'DEL');
    assert.equal(await fx.published('life'), undefined);
    if (fx.api) {
      await fx.api.settle();
      assert.equal(await fx.statefulSet('life'), undefined, 'the StatefulSet is collected');
    }
    // The address it held goes to the pool that wanted it.
    await fx.waitForCondition('copycat', 'Degraded', (c) => c.status === 'False', 'the IP freed');
    const copycat = await fx.published('copycat');
    assert.equal(copycat?.ips.find((ip) => ip.address === '192.0.2.10')?.pod, 'copycat-sender-1');
  });

  it('leaves a StatefulSet it does not own alone and says so', async () => {
    await fx.apps.createNamespacedStatefulSet({
      namespace: fx.namespace,
      body: {
        metadata: { name: 'taken-sender' },
        spec: {
          serviceName: 'taken-sender',
          selector: { matchLabels: { app: 'other' } },
          template: {
            metadata: { labels: { app: 'other' } },
            spec: { containers: [{ name: 'other', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      },
    });
    const pool = await fx.createPool('taken', basicSpec(20));
    const degraded = await fx.waitForCondition(
      'taken',
      'Degraded',
      (c) => c.status === 'True' && c.reason === 'NameConflict',
      'the conflict to be reported',
    );
    assert.match(
      degraded.status!.conditions!.find((c) => c.type === 'Ready')!.message,
      /StatefulSet .*\/taken-sender exists and does not belong to this pool/,
    );
    assert.equal(
      (await fx.statefulSet('taken'))?.spec?.template.spec?.containers[0]?.name,
      'other',
    );
    assert.equal(await fx.published('taken'), undefined);
    assert.equal(degraded.status?.observedGeneration, pool.metadata.generation);
  });

  it('made only the API calls its access table declares', { skip: REAL_CLUSTER }, () => {
    const made = new Set<string>();
    for (const r of fx.api!.requests) {
      if (r.user !== op.identity) continue;
      const access = requestAccess(r.method, r.path, r.watch);
      if (!access) continue;
      const rule = ACCESS.find((a) => a.group === access.group && a.resource === access.resource);
      assert.ok(
        rule && (rule.verbs as string[]).includes(access.verb),
        `${access.verb} ${access.group}/${access.resource} is not in the access table`,
      );
      made.add(`${access.group}/${access.resource}:${access.verb}`);
    }
    // Every declared access is one the operator uses (the finalizers subresource is only
    // checked by the API server's admission of owner references, never called).
    const unused = ACCESS.flatMap((a) =>
      a.resource === 'relaypools/finalizers'
        ? []
        : a.verbs.map((v) => `${a.group}/${a.resource}:${v}`).filter((k) => !made.has(k)),
    );
    assert.deepEqual(unused, []);
  });
});
