/**
 * What the sender enforces of a rate policy for its own IPs: concurrent connections and
 * messages per connection towards one destination host, recipients per transaction, and
 * whether TLS is required. The scheduler picks the policy (the job names it); the sender
 * resolves the name against the pool with the same resolver, so defaults and inheritance
 * from the `default` policy are the scheduler's.
 */
import type { CompiledPool } from '@hikyaku/core';
import {
  DEFAULT_PER_IP_RATE,
  DEFAULT_RATE_POLICY_NAME,
  type ResolvedRatePolicy,
  resolveRatePolicies,
} from '@hikyaku/core/policy';

export interface SendLimits {
  /** The policy the limits came from (a metric label). */
  policy: string;
  connections: number;
  messagesPerConnection: number;
  recipientsPerMessage: number;
  tls: 'opportunistic' | 'required';
}

export const DEFAULT_LIMITS: Readonly<SendLimits> = Object.freeze({
  policy: DEFAULT_RATE_POLICY_NAME,
  connections: DEFAULT_PER_IP_RATE.connections,
  messagesPerConnection: DEFAULT_PER_IP_RATE.messagesPerConnection,
  recipientsPerMessage: DEFAULT_PER_IP_RATE.recipientsPerMessage,
  tls: 'opportunistic',
});

function limitsOf(policy: ResolvedRatePolicy): SendLimits {
  return {
    policy: policy.name,
    connections: policy.perIp.connections,
    messagesPerConnection: policy.perIp.messagesPerConnection,
    recipientsPerMessage: policy.perIp.recipientsPerMessage,
    tls: policy.tls,
  };
}

export type LimitsLookup = (policyName: string) => SendLimits;

/**
 * The limits of each policy of a pool, by name. A name the pool does not know (a job
 * scheduled before the policy was removed) gets the `default` policy's limits. Throws
 * BadRatePolicyError when the pool's policies do not resolve.
 */
export function limitsForPool(pool: Pick<CompiledPool, 'ratePolicies'>): LimitsLookup {
  const resolved = resolveRatePolicies(pool.ratePolicies);
  const byName = new Map(resolved.map((p) => [p.name, Object.freeze(limitsOf(p))]));
  const fallback = byName.get(DEFAULT_RATE_POLICY_NAME) ?? DEFAULT_LIMITS;
  return (name) => byName.get(name) ?? fallback;
}
