/**
 * What ties an object the operator creates to its RelayPool: the sender labels it is
 * selected by, and the controller owner reference that lets Kubernetes garbage-collect it
 * with the pool and lets the operator tell its own objects from someone else's.
 */

import { RELAYPOOL_GROUP, RELAYPOOL_KIND, RELAYPOOL_VERSION } from '@hikyaku/core';
import type { V1OwnerReference } from '@kubernetes/client-node';
import type { RelayPoolObject } from '../kube/objects.ts';
import { LABELS, MANAGED_BY } from './labels.ts';

/** The labels of a pool's sender objects; also the StatefulSet's pod selector. */
export function senderLabels(poolName: string): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'sender', [LABELS.pool]: poolName };
}

/** The pool as the controlling owner of an object in its namespace. */
export function poolOwnerReference(pool: RelayPoolObject): V1OwnerReference {
  return {
    apiVersion: `${RELAYPOOL_GROUP}/${RELAYPOOL_VERSION}`,
    kind: RELAYPOOL_KIND,
    name: pool.metadata.name,
    uid: pool.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

type Owned = { metadata?: { ownerReferences?: V1OwnerReference[] } };

/** Whether the pool (by uid) controls this object. */
export function isOwnedBy(object: Owned, poolUid: string): boolean {
  return (object.metadata?.ownerReferences ?? []).some(
    (r) => r.uid === poolUid && r.controller === true,
  );
}

/** The name of the RelayPool controlling this object, if one does. */
export function controllingPool(object: Owned): string | undefined {
  return object.metadata?.ownerReferences?.find((r) => r.kind === RELAYPOOL_KIND && r.controller)
    ?.name;
}
