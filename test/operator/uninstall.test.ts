/**
 * `helm uninstall` with pools present: the chart's pre-delete hook runs `hikyaku
 * remove-pools` while the operator still runs. Driven here against the stand-in, which
 * holds objects on their finalizers and keeps a deleted namespace Terminating until they
 * are gone, as a real API server does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@hikyaku/core';
import { ACCESS, createKubeClient, FINALIZER, removePools, requestAccess } from '@hikyaku/operator';
import { waitFor } from '@hikyaku/testing';
import { makeKubeConfig } from '../kube/kubeconfig.ts';
import {
  basicSpec,
  type OperatorFixture,
  REAL_CLUSTER,
  type RunningOperator,
  startOperatorFixture,
} from './harness.ts';

const USER = 'remove-pools';
let fx: OperatorFixture;
let op: RunningOperator;

before(async () => {
  if (REAL_CLUSTER) return;
  fx = await startOperatorFixture();
  op = await fx.startOperator();
  await waitFor('the operator to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
});
after(async () => {
  if (REAL_CLUSTER) return;
  await fx.stop();
});

function run(waitMs: number) {
  const client = createKubeClient({
    kubeConfig: makeKubeConfig({ server: fx.api!.url, token: USER }),
    namespace: fx.namespace,
    managedSelector: '',
    isLeader: () => true,
  });
  return removePools({
    client,
    waitMs,
    pollMs: 50,
    log: createLogger({ name: USER, level: process.env.HIKYAKU_TEST_LOG ?? 'silent' }),
  });
}

async function ready(name: string, first: number): Promise<void> {
  const created = await fx.createPool(name, basicSpec(first));
  await fx.waitForCondition(
    name,
    'Ready',
    (c, p) => c.status === 'True' && p.status?.observedGeneration === created.metadata.generation,
    `${name} Ready`,
  );
}

/** Everything the stand-in holds that is being deleted. */
function terminating(): string[] {
  const held: string[] = [];
  for (const resource of ['namespaces', 'relaypools.hikyaku.io', 'statefulsets.apps', 'secrets']) {
    for (const o of fx.api!.store.list(resource)) {
      if (o.metadata.deletionTimestamp) held.push(`${resource} ${o.metadata.name}`);
    }
  }
  return held;
}

describe('uninstall with pools present', { skip: REAL_CLUSTER }, () => {
  it('deletes every pool through the running operator, and then the namespace goes', async () => {
    await ready('alpha', 10);
    await ready('beta', 20);
    const result = await run(20_000);
    assert.deepEqual(result.deleted.sort(), [`${fx.namespace}/alpha`, `${fx.namespace}/beta`]);
    assert.deepEqual(result.released, [], 'the operator finalized them itself');
    assert.deepEqual(result.remaining, []);
    assert.equal(await fx.published('alpha'), undefined, 'the policy left NATS KV');
    assert.equal(await fx.published('beta'), undefined);
    await fx.api!.settle();
    assert.equal(await fx.statefulSet('alpha'), undefined, 'the StatefulSet is collected');

    const uid = fx.api!.store.get('namespaces', undefined, fx.namespace)?.metadata.uid;
    await fx.core.deleteNamespace({ name: fx.namespace });
    await fx.api!.settle();
    assert.deepEqual(terminating(), []);
    // The operator's Lease renewals may create the namespace afresh at once: the one
    // deleted is what must be gone.
    const now = fx.api!.store.get('namespaces', undefined, fx.namespace);
    assert.notEqual(now?.metadata.uid, uid, 'the deleted namespace is gone');
  });

  it('removes the finalizer itself when no operator finalizes in time', async () => {
    await ready('gamma', 30);
    await op.stop({ release: true });
    const result = await run(300);
    assert.deepEqual(result.deleted, [`${fx.namespace}/gamma`]);
    assert.deepEqual(result.released, [`${fx.namespace}/gamma`]);
    assert.deepEqual(result.remaining, []);
    assert.equal(await fx.getPool('gamma'), undefined, 'nothing is left Terminating');
    assert.ok(await fx.published('gamma'), 'its policy stays in KV, as the log says');
  });

  it("reports a pool that others' finalizers hold, and leaves them alone", async () => {
    fx.api!.store.put({
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'held', namespace: fx.namespace, finalizers: ['example.com/backup'] },
      spec: basicSpec(40),
    });
    const result = await run(200);
    assert.deepEqual(result.remaining, [`${fx.namespace}/held`]);
    const held = await fx.getPool('held');
    assert.ok(held?.metadata.deletionTimestamp);
    assert.deepEqual(held.metadata.finalizers, ['example.com/backup']);
    assert.ok(!held.metadata.finalizers.includes(FINALIZER));
  });

  it('made only calls the access table declares, delete among them', () => {
    const made = new Set<string>();
    for (const r of fx.api!.requests) {
      if (r.user !== USER) continue;
      const access = requestAccess(r.method, r.path, r.watch);
      if (!access) continue;
      const rule = ACCESS.find((a) => a.group === access.group && a.resource === access.resource);
      assert.ok(
        rule && (rule.verbs as string[]).includes(access.verb),
        `${access.verb} ${access.group}/${access.resource} is not in the access table`,
      );
      made.add(`${access.group}/${access.resource}:${access.verb}`);
    }
    assert.ok(made.has('hikyaku.io/relaypools:delete'));
  });
});
