/**
 * Two operator replicas: only the one holding the Lease writes; when it stops without a
 * word (as a killed process does), the other takes over once the Lease has run out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requestAccess } from '@hikyaku/operator';
import { waitFor } from '@hikyaku/testing';
import { CoordinationV1Api } from '@kubernetes/client-node';
import {
  basicSpec,
  type OperatorFixture,
  REAL_CLUSTER,
  type RunningOperator,
  startOperatorFixture,
} from './harness.ts';

const LEASE_MS = 2000;
let fx: OperatorFixture;
let a: RunningOperator;
let b: RunningOperator;

before(async () => {
  fx = await startOperatorFixture();
  a = await fx.startOperator({ user: 'replica-a' });
  await waitFor('replica-a to lead', () => a.operator.isLeader(), { timeoutMs: 10_000 });
  b = await fx.startOperator({ user: 'replica-b' });
});
after(() => fx.stop());

async function holder(): Promise<string | undefined> {
  const lease = await fx.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({
    namespace: fx.namespace,
    name: 'hikyaku-operator',
  });
  return lease.spec?.holderIdentity;
}

/** Writes other than to the Lease, by the replica with this token. */
function writesBy(user: string): string[] {
  return fx
    .api!.requests.filter((r) => r.user === user && r.method !== 'GET')
    .map((r) => requestAccess(r.method, r.path, r.watch))
    .filter((x) => x !== undefined && x.resource !== 'leases')
    .map((x) => `${x!.verb} ${x!.resource}`);
}

describe('leader election', () => {
  it('only the leader writes', async () => {
    const created = await fx.createPool('duo', basicSpec(10));
    await fx.waitForCondition(
      'duo',
      'Ready',
      (c, p) => c.status === 'True' && p.status?.observedGeneration === created.metadata.generation,
      'Ready',
    );
    assert.equal(await holder(), 'replica-a');
    assert.equal(a.operator.isLeader(), true);
    assert.equal(b.operator.isLeader(), false);
    assert.equal(b.operator.ready(), true, 'the follower keeps its caches warm');
    if (!REAL_CLUSTER) {
      assert.ok(writesBy('replica-a').length > 0);
      assert.deepEqual(writesBy('replica-b'), []);
    }
  });

  it('when the leader stops, the other takes over within the lease duration', async () => {
    // No release: the Lease must run out, as when the leader's process is killed.
    const stoppedAt = Date.now();
    await a.stop({ release: false });
    await waitFor('replica-b to lead', () => b.operator.isLeader(), {
      timeoutMs: LEASE_MS * 3,
      intervalMs: 20,
    });
    // It waits out the lease (it last saw it renewed at most a retry period before the stop).
    assert.ok(Date.now() - stoppedAt >= LEASE_MS - 400, 'not before the lease ran out');
    assert.equal(await holder(), 'replica-b');

    const patched = await fx.patchSpec('duo', { maxRecipients: 7 });
    await fx.waitForCondition(
      'duo',
      'Ready',
      (c, p) => c.status === 'True' && p.status?.observedGeneration === patched.metadata.generation,
      'the new leader to reconcile',
    );
    assert.equal((await fx.published('duo'))?.maxRecipients, 7);
    if (!REAL_CLUSTER) assert.ok(writesBy('replica-b').length > 0, 'replica-b writes now');
  });
});
