/**
 * What real API servers do to a controller: end watch streams, compact their history
 * (410 Gone on resume), fail for a while (500), and connections that go silent. The
 * operator must converge after each. Needs the stand-in's fault injection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@hikyaku/testing';
import {
  basicSpec,
  type OperatorFixture,
  REAL_CLUSTER,
  type RunningOperator,
  startOperatorFixture,
} from './harness.ts';
import { type SilentProxy, startSilentProxy } from './silent-proxy.ts';

let fx: OperatorFixture;
let op: RunningOperator;
let proxy: SilentProxy;

before(async () => {
  if (REAL_CLUSTER) return;
  fx = await startOperatorFixture();
  proxy = await startSilentProxy(fx.api!.url);
  op = await fx.startOperator({
    server: proxy.url,
    env: { HIKYAKU_WATCH_TIMEOUT_SECONDS: '1' },
  });
  await waitFor('the operator to lead', () => op.operator.isLeader(), { timeoutMs: 10_000 });
  const created = await fx.createPool('rough', basicSpec(10));
  await converged(created.metadata.generation, 2);
});
after(async () => {
  if (REAL_CLUSTER) return;
  await fx.stop();
  await proxy.stop();
});

/** The spec of `generation` is in the StatefulSet, the KV entry and Ready. */
async function converged(generation: number, replicas: number): Promise<void> {
  await fx.waitForCondition(
    'rough',
    'Ready',
    (c, p) => c.status === 'True' && p.status?.observedGeneration === generation,
    `Ready at generation ${generation}`,
  );
  await waitFor(
    'the StatefulSet',
    async () => (await fx.statefulSet('rough'))?.spec?.replicas === replicas,
  );
  await waitFor(
    'the KV entry',
    async () => (await fx.published('rough'))?.generation === generation,
  );
}

function withIps(count: number) {
  return Array.from({ length: count }, (_, i) => ({
    address: `192.0.2.${10 + i}`,
    hostname: `mta${i}.example.com`,
  }));
}

async function restarts(reason: string): Promise<number> {
  const metric = await op.registry.getSingleMetric('hikyaku_operator_watch_restarts_total')?.get();
  return (metric?.values ?? [])
    .filter((v) => v.labels.reason === reason)
    .reduce((sum, v) => sum + v.value, 0);
}

describe('the operator under API faults', { skip: REAL_CLUSTER }, () => {
  it('converges when the server closes its watches', async () => {
    fx.api!.faults.closeWatches();
    const patched = await fx.patchSpec('rough', { ips: withIps(3) });
    fx.api!.faults.closeWatches();
    await converged(patched.metadata.generation, 3);
  });

  it('lists again after 410 Gone and converges', async () => {
    const before = await restarts('expired');
    // Changes made while the operator cannot watch, then history it cannot resume from.
    fx.api!.faults.failRequests({ forMs: 300, match: (r) => r.watch && r.user === op.identity });
    fx.api!.faults.closeWatches();
    const patched = await fx.patchSpec('rough', { ips: withIps(4) });
    fx.api!.faults.compactHistory();
    await converged(patched.metadata.generation, 4);
    assert.ok((await restarts('expired')) > before, 'a watch was answered 410 and listed again');
  });

  it('rides out a stretch of 500s, losing and regaining the lease', async () => {
    // Every request of the operator fails (the test's own requests carry no token).
    fx.api!.faults.failRequests({ forMs: 2500, match: (r) => r.user === op.identity });
    fx.api!.faults.closeWatches();
    const patched = await fx.patchSpec('rough', { ips: withIps(2) });
    await waitFor('leadership lost to the failures', () => !op.operator.isLeader(), {
      timeoutMs: 10_000,
    });
    await converged(patched.metadata.generation, 2);
    assert.ok(op.operator.isLeader(), 'leading again');
    assert.ok((await restarts('error')) > 0, 'failed watches were restarted');
  });

  it('cuts a watch that went silent and catches up', async () => {
    proxy.silent = true;
    fx.api!.faults.closeWatches();
    await waitFor('the watches to go silent', () => proxy.silenced() >= 3);
    proxy.silent = false;
    const patched = await fx.patchSpec('rough', { ips: withIps(3) });
    await converged(patched.metadata.generation, 3);
    assert.ok((await restarts('watchdog')) > 0, 'the watchdog restarted a silent watch');
  });
});
