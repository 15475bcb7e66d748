/**
 * Which rate policy governs a destination domain, and which budget ("site") its mail
 * counts against. A named policy is one budget per IP shared by every domain it matches
 * (all of Google's domains count together, as Google counts them); the catch-all policy
 * gives each destination domain a budget of its own, so unrelated receivers never share
 * a limit. Counters, throttle state and parking lanes are kept per (IP, site).
 */
import type { CompiledPool } from '@hikyaku/core';
import {
  createRatePolicyMatcher,
  DEFAULT_RATE_POLICY_NAME,
  type RatePolicyMatcher,
  type ResolvedRatePolicy,
  resolveRatePolicies,
} from '@hikyaku/core/policy';
import type { MxLookup } from './mx-hosts.ts';

export interface Destination {
  policy: ResolvedRatePolicy;
  site: string;
}

interface PoolPolicies {
  match: RatePolicyMatcher;
  byName: Map<string, ResolvedRatePolicy>;
  fallback: ResolvedRatePolicy;
  /** Whether any policy matches by MX host (else no DNS lookup is needed). */
  byMx: boolean;
}

/** The site of a destination under a policy; see the module comment. */
export function siteOf(policy: string, domain: string): string {
  return policy === DEFAULT_RATE_POLICY_NAME ? `${DEFAULT_RATE_POLICY_NAME}:${domain}` : policy;
}

/** The policy a site belongs to (a metric label). */
export function policyOfSite(site: string): string {
  return site.startsWith(`${DEFAULT_RATE_POLICY_NAME}:`) ? DEFAULT_RATE_POLICY_NAME : site;
}

export interface Destinations {
  resolve(pool: CompiledPool, domain: string): Promise<Destination>;
  /** The pool's policy of that name, or the default policy (a policy removed since). */
  policy(pool: CompiledPool, name: string): ResolvedRatePolicy;
  /** Every resolved policy of the pool, the default last. */
  policies(pool: CompiledPool): readonly ResolvedRatePolicy[];
}

export function createDestinations(mx: MxLookup): Destinations {
  // Compiled pools are replaced, never changed, when the KV entry changes.
  const compiled = new WeakMap<CompiledPool, PoolPolicies>();

  function policiesOf(pool: CompiledPool): PoolPolicies {
    let entry = compiled.get(pool);
    if (!entry) {
      const resolved = pool.resolvedRatePolicies ?? resolveRatePolicies(pool.ratePolicies);
      const byName = new Map(resolved.map((p) => [p.name, p]));
      entry = {
        match: createRatePolicyMatcher(resolved),
        byName,
        fallback: byName.get(DEFAULT_RATE_POLICY_NAME) as ResolvedRatePolicy,
        byMx: resolved.some((p) => p.match.mxHosts.length > 0),
      };
      compiled.set(pool, entry);
    }
    return entry;
  }

  return {
    async resolve(pool, domain) {
      const entry = policiesOf(pool);
      const mxHosts = entry.byMx ? await mx.hosts(domain, pool.routes) : [];
      const policy = entry.match({ domain, mxHosts });
      return { policy, site: siteOf(policy.name, domain) };
    },
    policy(pool, name) {
      const entry = policiesOf(pool);
      return entry.byName.get(name) ?? entry.fallback;
    },
    policies(pool) {
      return [...policiesOf(pool).byName.values()];
    },
  };
}
