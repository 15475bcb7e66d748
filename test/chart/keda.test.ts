/**
 * The scheduler's optional KEDA ScaledObject, rendered by the real helm: off by default, on
 * request a ScaledObject that scales the scheduler Deployment on the pending count of the
 * scheduler's envelope and result consumers — named as the contract names them — and that
 * the real kubectl reads as written. Values that cannot work are refused with a message.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CONSUMERS, STREAMS } from '@hikyaku/core';
import {
  CHART_DIR,
  find,
  helm,
  kubectlBinary,
  NAMESPACE,
  parseManifests,
  RELEASE,
  render,
  renderError,
} from './helm.ts';

const run = promisify(execFile);
const ENDPOINT = 'nats-headless.nats.svc.cluster.local:8222';
const ON = ['scheduler.keda.enabled=true', `scheduler.keda.natsMonitoringEndpoint=${ENDPOINT}`];

interface ScaledObjectSpec {
  scaleTargetRef: { apiVersion: string; kind: string; name: string };
  pollingInterval: number;
  cooldownPeriod: number;
  minReplicaCount: number;
  maxReplicaCount: number;
  triggers: { type: string; metadata: Record<string, string> }[];
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-keda-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('KEDA ScaledObject for the scheduler', () => {
  test('is off by default', async () => {
    const objects = await render();
    assert.equal(objects.filter((o) => o.kind === 'ScaledObject').length, 0);
    const deployment = find(objects, 'Deployment', '-scheduler');
    assert.equal((deployment.spec as { replicas?: number }).replicas, 2);
  });

  test('scales the scheduler Deployment on the backlog of its consumers', async () => {
    const objects = await render({ set: [...ON, 'scheduler.keda.maxReplicas=6'] });
    const scaled = find(objects, 'ScaledObject', '-scheduler');
    assert.equal(scaled.apiVersion, 'keda.sh/v1alpha1');
    assert.equal(scaled.metadata.namespace, NAMESPACE);
    const spec = scaled.spec as ScaledObjectSpec;
    assert.deepEqual(spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: `${RELEASE}-hikyaku-scheduler`,
    });
    const deployment = find(objects, 'Deployment', '-scheduler');
    assert.equal(deployment.metadata.name, spec.scaleTargetRef.name);
    // The Deployment leaves its replica count to KEDA: a helm upgrade must not reset it.
    assert.equal((deployment.spec as { replicas?: number }).replicas, undefined);
    assert.equal(spec.minReplicaCount, 2);
    assert.equal(spec.maxReplicaCount, 6);
    assert.equal(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').length, 0);
    // KEDA reads trigger metadata as strings only.
    assert.deepEqual(spec.triggers, [
      {
        type: 'nats-jetstream',
        metadata: {
          natsServerMonitoringEndpoint: ENDPOINT,
          account: '$G',
          stream: STREAMS.envelopes,
          consumer: CONSUMERS.schedulerEnvelopes,
          lagThreshold: '1000',
          useHttps: 'false',
        },
      },
      {
        type: 'nats-jetstream',
        metadata: {
          natsServerMonitoringEndpoint: ENDPOINT,
          account: '$G',
          stream: STREAMS.bodies,
          consumer: CONSUMERS.schedulerBodyEnvelopes,
          lagThreshold: '1000',
          useHttps: 'false',
        },
      },
      {
        type: 'nats-jetstream',
        metadata: {
          natsServerMonitoringEndpoint: ENDPOINT,
          account: '$G',
          stream: STREAMS.results,
          consumer: CONSUMERS.schedulerResults,
          lagThreshold: '1000',
          useHttps: 'false',
        },
      },
    ]);
    assert.ok(
      !spec.triggers.some((t) => t.metadata.consumer === (CONSUMERS.schedulerQueue as string)),
      'parked mail is no backlog',
    );
  });

  test('kubectl reads the rendered object as helm wrote it', async () => {
    const result = await helm([
      'template',
      RELEASE,
      CHART_DIR,
      '--namespace',
      NAMESPACE,
      '--show-only',
      'templates/scheduler-scaledobject.yaml',
      ...ON.flatMap((pair) => ['--set', pair]),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const file = join(dir, 'scaledobject.yaml');
    writeFileSync(file, result.stdout);
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n',
    );
    const { stdout } = await run(
      kubectlBinary(),
      ['annotate', '--local', '-f', file, 'parse.hikyaku.test/read=yes', '-o', 'json'],
      { env: { PATH: '/usr/bin:/bin', KUBECONFIG: kubeconfig, HOME: dir }, timeout: 60_000 },
    );
    const read = JSON.parse(stdout) as { kind: string; spec: unknown };
    assert.equal(read.kind, 'ScaledObject');
    assert.deepEqual(read.spec, parseManifests(result.stdout)[0]?.spec);
  });

  test('refuses values that cannot work', async () => {
    assert.match(
      await renderError({ set: ['scheduler.keda.enabled=true'] }),
      /scheduler\.keda\.natsMonitoringEndpoint is required/,
    );
    assert.match(
      await renderError({ set: [...ON, 'scheduler.autoscaling.enabled=true'] }),
      /both scale the scheduler/,
    );
    assert.match(
      await renderError({ set: [...ON, 'scheduler.keda.maxReplicas=1'] }),
      /scheduler\.keda\.minReplicas is larger than maxReplicas/,
    );
    assert.match(
      await renderError({ set: [...ON, 'scheduler.keda.lagThreshold=0'] }),
      /lagThreshold/,
    );
  });
});
