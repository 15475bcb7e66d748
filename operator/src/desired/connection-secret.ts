/**
 * The Secret `<pool>-sender-connection` in the pool's namespace: how its sender pods reach
 * NATS and Redis (NATS_URL, REDIS_URL, NATS credentials). Pods cannot read a Secret of
 * another namespace, and these values may carry passwords, so the operator keeps a copy
 * next to each pool, owned by it, instead of writing them into the pod spec.
 */
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { RelayPoolObject } from '../kube/objects.ts';
import { poolOwnerReference, senderLabels } from './ownership.ts';

export function connectionSecretName(poolName: string): string {
  return `${poolName}-sender-connection`;
}

/** Changes when a value changes, without telling anything about it. */
export function connectionVersion(connection: Readonly<Record<string, string>>): string {
  const text = Object.keys(connection)
    .sort()
    .map((k) => `${k}=${connection[k]}`)
    .join('\n');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export function buildConnectionSecret(
  pool: RelayPoolObject,
  connection: Readonly<Record<string, string>>,
): V1Secret {
  const data: Record<string, string> = {};
  for (const key of Object.keys(connection).sort()) {
    data[key] = Buffer.from(connection[key] as string, 'utf8').toString('base64');
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: connectionSecretName(pool.metadata.name),
      namespace: pool.metadata.namespace,
      labels: senderLabels(pool.metadata.name),
      ownerReferences: [poolOwnerReference(pool)],
    },
    data,
  };
}

/** Whether the live Secret holds exactly the desired data. */
export function connectionSecretCurrent(live: V1Secret, desired: V1Secret): boolean {
  const a = live.data ?? {};
  const b = desired.data ?? {};
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}
