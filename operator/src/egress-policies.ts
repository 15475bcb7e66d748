/**
 * The CiliumEgressGatewayPolicies of a pool in egress mode gateway with `cilium`: one per
 * IP (desired/egress.ts), found again by their labels. They are cluster-scoped, so a
 * namespaced pool cannot own them and garbage collection does not remove them: the
 * operator deletes the ones no longer wanted, and all of a pool's when it goes.
 */
import { buildCiliumPolicies, ciliumPolicyLabels } from './desired/egress.ts';
import { EgressPolicyUnavailableError } from './errors.ts';
import { EVENT_REASONS, type PoolEvent } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { RelayPoolObject } from './kube/objects.ts';

function selectorOf(pool: RelayPoolObject): string {
  return Object.entries(ciliumPolicyLabels(pool))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * Brings the pool's policies in line with its spec. `mayHaveSome`: the pool was in mode
 * gateway before, so policies of it may be left to remove (a pool that never was is not
 * looked up, which spares clusters without Cilium the call).
 */
export async function applyCiliumPolicies(
  client: KubeClient,
  pool: RelayPoolObject,
  mayHaveSome: boolean,
): Promise<PoolEvent[]> {
  const desired = buildCiliumPolicies(pool);
  if (desired.length === 0 && !mayHaveSome) return [];
  const live = await client.listCiliumPolicies(selectorOf(pool));
  if (live === undefined) {
    if (desired.length === 0) return [];
    throw new EgressPolicyUnavailableError(
      "the cluster does not serve CiliumEgressGatewayPolicy (cilium.io/v2): enable Cilium's egress gateway, or remove egress.gateway.cilium and map the pods' hikyaku.io/egress-ip labels with the cluster's own egress policy",
    );
  }
  const events: PoolEvent[] = [];
  const byName = new Map(live.map((p) => [p.metadata.name, p]));
  for (const policy of desired) {
    const current = byName.get(policy.metadata.name);
    byName.delete(policy.metadata.name);
    if (!current) {
      await client.createCiliumPolicy(policy);
      const note = `created CiliumEgressGatewayPolicy ${policy.metadata.name} for ${policy.spec.egressGateway.egressIP}`;
      events.push({ type: 'Normal', reason: EVENT_REASONS.SendersUpdated, action: 'Create', note });
    } else if (JSON.stringify(current.spec) !== JSON.stringify(policy.spec)) {
      await client.replaceCiliumPolicy({
        ...policy,
        metadata: { ...policy.metadata, resourceVersion: current.metadata.resourceVersion },
      });
    }
  }
  for (const name of byName.keys()) await client.deleteCiliumPolicy(name);
  return events;
}

/** Deletes every policy of the pool (it is being deleted). */
export async function removeCiliumPolicies(
  client: KubeClient,
  pool: RelayPoolObject,
): Promise<void> {
  const live = await client.listCiliumPolicies(selectorOf(pool));
  for (const policy of live ?? []) await client.deleteCiliumPolicy(policy.metadata.name);
}
