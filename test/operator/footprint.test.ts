/**
 * The operator's memory in a namespace full of Secrets that are none of its business: it
 * must hold only the Secrets its pools name and the ones it owns, so its resident set does
 * not grow with the cluster's Secrets. `hikyaku operator` runs as its own process, as in
 * its pod, and its peak resident set (VmHWM) is read from /proc.
 *
 * It is started exactly as the chart's operator container starts it (the command and
 * arguments are read from the rendered Deployment): the bundle `npm run build` makes, with
 * the container's Node flags. What would break the bound: caching every Secret (~790 MiB in
 * this run), loading client-node's generated APIs or core's mail parsing (~+40 MiB each),
 * or dropping the flags. docs/operator.md records the figures.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ServiceProcess, serviceProcess } from '@hikyaku/local';
import { freePort } from '@hikyaku/testing';
import { render } from '../chart/helm.ts';
import {
  basicSpec,
  type OperatorFixture,
  REAL_CLUSTER,
  startOperatorFixture,
  testEnv,
} from './harness.ts';

const UNRELATED_SECRETS = 10_000;
const SECRET_BYTES = 10 * 1024;
const LIMIT_MIB = 128;
const LIMIT_BYTES = LIMIT_MIB * 1024 * 1024;
/** The image's working directory: the chart's command names files relative to it. */
const IMAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HAS_PROC = (() => {
  try {
    readFileSync('/proc/self/status');
    return true;
  } catch {
    return false;
  }
})();
const skip = REAL_CLUSTER
  ? 'needs the stand-in'
  : HAS_PROC
    ? false
    : 'needs /proc to read the resident set';

/**
 * The operator container's command line from the rendered chart, as this process's Node
 * arguments: `node FLAGS SCRIPT` with the script under the repository (the image's /app),
 * then the container's args.
 */
async function chartInvocation(): Promise<{ node: string[]; command: string }> {
  const objects = await render();
  const deployment = objects.find(
    (o) =>
      o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'operator',
  ) as
    | { spec: { template: { spec: { containers: { command?: string[]; args?: string[] }[] } } } }
    | undefined;
  assert.ok(deployment, 'the chart renders the operator Deployment');
  const container = deployment.spec.template.spec.containers[0];
  const [node, ...nodeArgs] = container?.command ?? [];
  assert.equal(node, 'node', 'the operator container runs node itself');
  const script = nodeArgs.at(-1) as string;
  const [command, ...rest] = container?.args ?? [];
  assert.equal(command, 'operator');
  assert.deepEqual(rest, []);
  return { node: [...nodeArgs.slice(0, -1), join(IMAGE_ROOT, script)], command };
}

let fx: OperatorFixture;
let proc: ServiceProcess;
let dir: string;

/** Peak and current resident set of a process, in bytes. */
function residentSet(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { peak: kib('VmHWM') * 1024, now: kib('VmRSS') * 1024 };
}

before(async () => {
  if (skip) return;
  fx = await startOperatorFixture();
  const filler = 'x'.repeat(SECRET_BYTES);
  const data = { blob: Buffer.from(filler).toString('base64').slice(0, SECRET_BYTES) };
  for (let i = 0; i < UNRELATED_SECRETS; i++) {
    fx.api!.store.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `unrelated-${i}`, namespace: fx.namespace },
      type: 'Opaque',
      data,
    });
  }
  fx.api!.store.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'shop-smtp', namespace: fx.namespace },
    type: 'Opaque',
    data: { password: Buffer.from('s3cret').toString('base64') },
  });
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-operator-footprint-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await fx.api!.writeKubeconfig(kubeconfig);
  const { node, command } = await chartInvocation();
  proc = serviceProcess({
    name: 'operator',
    command,
    invocation: node,
    opsPort: await freePort(),
    env: {
      ...testEnv(fx.namespace, fx.natsUrl),
      KUBECONFIG: kubeconfig,
      HIKYAKU_NAMESPACE: fx.namespace,
      HIKYAKU_POD_NAME: 'hikyaku-operator-footprint',
      HIKYAKU_LOG_LEVEL: process.env.HIKYAKU_TEST_LOG ?? 'warn',
    },
    onOutput: (_name, line) => {
      if (process.env.HIKYAKU_TEST_LOG) process.stderr.write(`${line}\n`);
    },
  });
  await proc.start();
});
after(async () => {
  if (skip) return;
  await proc.stop();
  await fx.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('operator footprint', { skip }, () => {
  it(`stays under ${LIMIT_MIB} MiB with ${UNRELATED_SECRETS} unrelated Secrets of 10 KiB`, async () => {
    const created = await fx.createPool(
      'footprint',
      basicSpec(10, {
        submitters: [
          { username: 'shop-app', passwordSecretRef: { name: 'shop-smtp', key: 'password' } },
        ],
      }),
    );
    await fx.waitForCondition(
      'footprint',
      'Ready',
      (c, p) => c.status === 'True' && p.status?.observedGeneration === created.metadata.generation,
      'Ready',
    );
    assert.ok(
      (await fx.published('footprint'))?.submitters[0]?.passwordHash,
      'the Secret the pool names was read',
    );
    const rss = residentSet(proc.pid!);
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    process.stdout.write(
      `# operator resident set: peak ${mib(rss.peak)} MiB, now ${mib(rss.now)} MiB\n`,
    );
    assert.ok(
      rss.peak < LIMIT_BYTES,
      `the operator's peak resident set is ${mib(rss.peak)} MiB, over ${LIMIT_MIB} MiB`,
    );
  });
});
