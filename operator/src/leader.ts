/**
 * Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: a candidate
 * takes the Lease only when its holder has not renewed it for a whole lease duration, as
 * measured on the candidate's own clock from when it last saw the Lease change (so clocks
 * that disagree do not matter). The leader renews every retry period; if it cannot renew
 * within the renew deadline (shorter than the lease duration) it stops leading before
 * anyone else may start. `isLeader()` checks that deadline itself, so a replica whose
 * renewals hang stops writing on time even while a renewal is still in flight.
 */

import type { Logger } from '@hikyaku/core';
import { withTimeout } from '@hikyaku/core';
import type { V1Lease } from '@kubernetes/client-node';
import { KubeApiError } from './errors.ts';
import type { KubeClient } from './kube/client.ts';
import { microTime } from './kube/objects.ts';

export interface LeaderElectorOptions {
  client: Pick<KubeClient, 'readLease' | 'createLease' | 'replaceLease'>;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export interface LeaderElector {
  start(): void;
  /** Stops campaigning; `release` hands the Lease over at once instead of letting it expire. */
  stop(options?: { release?: boolean }): Promise<void>;
  isLeader(): boolean;
}

function tookTooLong(what: string, ms: number): Error {
  return new Error(`${what} took longer than ${ms} ms`);
}

export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  const { client, namespace, name, identity, log } = options;
  const durationSeconds = Math.max(1, Math.round(options.leaseDurationMs / 1000));
  let leading = false;
  let renewedAt = 0;
  let observedVersion: string | undefined;
  let observedAt = 0;
  let stopped = true;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let lease: V1Lease | undefined;

  const isLeader = () => leading && Date.now() - renewedAt < options.renewDeadlineMs;

  const observe = (l: V1Lease) => {
    lease = l;
    if (l.metadata?.resourceVersion !== observedVersion) {
      observedVersion = l.metadata?.resourceVersion;
      observedAt = Date.now();
    }
  };

  /** One attempt; true when this replica holds the Lease afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    const now = microTime();
    const current = await client.readLease(namespace, name);
    if (!current) {
      const created = await client.createLease(namespace, {
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      });
      observe(created);
      return true;
    }
    observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const heldMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== '' && holder !== identity && observedAt + heldMs > Date.now()) return false;
    const mine = holder === identity;
    const renewed = await client.replaceLease(namespace, name, {
      ...current,
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: mine && spec.acquireTime ? microTime(spec.acquireTime) : now,
        renewTime: now,
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    });
    observe(renewed);
    if (!mine)
      log.info(
        { lease: `${namespace}/${name}`, previous: holder || undefined },
        'acquired the lease',
      );
    return true;
  }

  function stepDown(why: string): void {
    if (!leading) return;
    leading = false;
    const level = why === 'stopping' ? 'info' : 'warn';
    log[level]({ lease: `${namespace}/${name}`, why }, 'stopped leading');
    options.onStoppedLeading();
  }

  async function campaign(): Promise<void> {
    while (!stopped) {
      let holding = false;
      try {
        holding = await withTimeout(tryAcquireOrRenew(), options.renewDeadlineMs, () =>
          tookTooLong('lease renewal', options.renewDeadlineMs),
        );
      } catch (err) {
        const conflict = err instanceof KubeApiError && err.status === 409;
        if (!conflict) log.warn({ err }, 'lease renewal failed');
      }
      if (stopped) break;
      if (holding) {
        renewedAt = Date.now();
        if (!leading) {
          leading = true;
          options.onStartedLeading();
        }
      } else if (leading && lease?.spec?.holderIdentity !== identity) {
        stepDown('another replica holds the lease');
      } else if (leading && !isLeader()) {
        stepDown('could not renew the lease within the renew deadline');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.retryPeriodMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  async function release(): Promise<void> {
    if (!lease || lease.spec?.holderIdentity !== identity) return;
    const now = microTime();
    try {
      await withTimeout(
        client.replaceLease(namespace, name, {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now },
        }),
        options.renewDeadlineMs,
        () => tookTooLong('lease release', options.renewDeadlineMs),
      );
      log.info({ lease: `${namespace}/${name}` }, 'released the lease');
    } catch (err) {
      // The Lease then expires on its own; say so, since a successor waits for it.
      log.warn({ err }, 'could not release the lease; it will expire by itself');
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      loop = campaign();
    },
    async stop(opts = {}) {
      if (stopped) return;
      stopped = true;
      wake?.();
      await loop;
      const wasLeading = leading;
      stepDown('stopping');
      if (wasLeading && opts.release) await release();
    },
    isLeader,
  };
}
