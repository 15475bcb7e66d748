/**
 * `hikyaku operator` as a process, configured from the environment as in its pod: it
 * reconciles, serves its ops port, and on SIGTERM stops and hands its Lease over.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServiceProcess, serviceProcess } from '@hikyaku/local';
import { freePort, waitFor } from '@hikyaku/testing';
import { CoordinationV1Api } from '@kubernetes/client-node';
import {
  basicSpec,
  type OperatorFixture,
  REAL_CLUSTER,
  startOperatorFixture,
  testEnv,
} from './harness.ts';

let fx: OperatorFixture;
let proc: ServiceProcess;
let dir: string;

before(async () => {
  if (REAL_CLUSTER) return;
  fx = await startOperatorFixture({ redis: true });
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-operator-process-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await fx.api!.writeKubeconfig(kubeconfig);
  proc = serviceProcess({
    name: 'operator',
    command: 'operator',
    opsPort: await freePort(),
    env: {
      ...testEnv(fx.namespace, fx.natsUrl),
      KUBECONFIG: kubeconfig,
      REDIS_URL: fx.redisUrl!,
      HIKYAKU_NAMESPACE: fx.namespace,
      HIKYAKU_POD_NAME: 'hikyaku-operator-7d9f-abcde',
      HIKYAKU_LOG_LEVEL: process.env.HIKYAKU_TEST_LOG ?? 'warn',
    },
    onOutput: (_name, line) => {
      if (process.env.HIKYAKU_TEST_LOG) process.stderr.write(`${line}\n`);
    },
  });
  await proc.start();
});
after(async () => {
  if (REAL_CLUSTER) return;
  await proc.stop();
  await fx.stop();
  rmSync(dir, { recursive: true, force: true });
});

const lease = () =>
  fx.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({
    namespace: fx.namespace,
    name: 'hikyaku-operator',
  });

describe('hikyaku operator', { skip: REAL_CLUSTER }, () => {
  it('leads, reconciles and reports on its ops port', async () => {
    const metrics = async () => (await fetch(`http://127.0.0.1:${proc.opsPort}/metrics`)).text();
    await waitFor('leadership', async () =>
      /hikyaku_operator_is_leader\{[^}]*\} 1/.test(await metrics()),
    );
    assert.match((await lease()).spec?.holderIdentity ?? '', /^hikyaku-operator-7d9f-abcde_/);
    const created = await fx.createPool('proc', basicSpec(10));
    await fx.waitForCondition(
      'proc',
      'Ready',
      (c, p) => c.status === 'True' && p.status?.observedGeneration === created.metadata.generation,
      'Ready',
    );
    await waitFor('a successful reconcile counted', async () =>
      /hikyaku_operator_reconcile_total\{result="success"[^}]*\} [1-9]/.test(await metrics()),
    );
  });

  it('on SIGTERM stops and hands the Lease over', async () => {
    await proc.stop();
    assert.equal((await lease()).spec?.holderIdentity, '');
  });
});
