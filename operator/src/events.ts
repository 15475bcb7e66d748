/**
 * Kubernetes Events (events.k8s.io/v1) on RelayPools, for what a human should see: senders
 * created or scaled, a policy published or removed, IPs draining, a pool turning Ready or
 * not, a Secret missing. An Event that cannot be recorded is logged and counted; it never
 * fails a reconcile, as client-go's recorder never does.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '@hikyaku/core';
import { RELAYPOOL_GROUP, RELAYPOOL_KIND, RELAYPOOL_VERSION } from '@hikyaku/core';
import type { KubeClient } from './kube/client.ts';
import { microTime, type PoolMetadata } from './kube/objects.ts';

export const REPORTING_CONTROLLER = 'hikyaku.io/operator';

/** Event reasons, besides the condition reasons (errors.ts) Warnings also use. */
export const EVENT_REASONS = {
  SendersCreated: 'SendersCreated',
  SendersScaled: 'SendersScaled',
  SendersUpdated: 'SendersUpdated',
  PolicyPublished: 'PolicyPublished',
  PolicyRemoved: 'PolicyRemoved',
  IpDraining: 'IpDraining',
  IpRemoved: 'IpRemoved',
  Ready: 'Ready',
  IpPaused: 'IpPaused',
  IpResumed: 'IpResumed',
  IpListed: 'IpListed',
  IpDelisted: 'IpDelisted',
  IpPtrMismatch: 'IpPtrMismatch',
} as const;

export interface PoolEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  /** What the operator did: Reconcile, Publish, Scale, Drain, Delete. */
  action: string;
  note: string;
}

export interface EventRecorder {
  record(pool: PoolMetadata, event: PoolEvent): Promise<void>;
}

export function createEventRecorder(options: {
  client: Pick<KubeClient, 'createEvent'>;
  instance: string;
  log: Logger;
  onFailure?(): void;
}): EventRecorder {
  return {
    async record(pool, event) {
      const name = `${pool.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`;
      try {
        await options.client.createEvent(pool.namespace, {
          metadata: { name, namespace: pool.namespace },
          eventTime: microTime(),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: options.instance,
          action: event.action,
          reason: event.reason,
          type: event.type,
          // The API refuses notes over 1 kB.
          note: event.note.length > 1024 ? `${event.note.slice(0, 1021)}...` : event.note,
          regarding: {
            apiVersion: `${RELAYPOOL_GROUP}/${RELAYPOOL_VERSION}`,
            kind: RELAYPOOL_KIND,
            name: pool.name,
            namespace: pool.namespace,
            uid: pool.uid,
            resourceVersion: pool.resourceVersion,
          },
        });
      } catch (err) {
        options.onFailure?.();
        options.log.warn(
          { err, pool: `${pool.namespace}/${pool.name}`, reason: event.reason },
          'could not record an Event',
        );
      }
    },
  };
}
