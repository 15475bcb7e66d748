/**
 * Which rate policy governs a destination, and that policy with every field filled.
 *
 * Policies are tried in the order the pool lists them; the first whose match fits wins. A
 * policy matches on the recipient domain (exact, case-insensitive, trailing dot ignored,
 * or a glob such as "*.example.com") or on any of the destination's MX hosts (globs such
 * as "*.google.com", "*.docomo.ne.jp"). In a glob "*" stands for any run of characters,
 * dots included, so "*.example.com" matches every subdomain of example.com but not
 * example.com itself: list both when both are meant.
 *
 * A catch-all policy named "default" is always there, last. The pool may declare it (with
 * no match) to change the defaults; every other policy takes each field it leaves out
 * from the default policy, whose own missing fields come from DEFAULT_PER_IP_RATE and the
 * throttle defaults. Resolved policies are plain frozen data (JSON-safe, as compiled
 * into NATS KV); createRatePolicyMatcher compiles their patterns once for lookups.
 */

import type { RatePolicySpec } from '../pool/spec.ts';
import { BadRatePolicyError, BadThrottleError } from './errors.ts';
import { resolveThrottleSettings, type ThrottleSettings } from './throttle.ts';

export const DEFAULT_RATE_POLICY_NAME = 'default';

export interface ResolvedPerIpRate {
  readonly messagesPerMinute: number;
  readonly connections: number;
  readonly messagesPerConnection: number;
  readonly recipientsPerMessage: number;
}

/** Per IP: 300 messages a minute over 10 connections, 100 messages per connection, 100 recipients per message. */
export const DEFAULT_PER_IP_RATE: ResolvedPerIpRate = Object.freeze({
  messagesPerMinute: 300,
  connections: 10,
  messagesPerConnection: 100,
  recipientsPerMessage: 100,
});

export interface ResolvedOnThrottle extends ThrottleSettings {
  /** Extra reply patterns meaning "slow down", for the bounce classifier. */
  readonly patterns: readonly string[];
}

export interface ResolvedRatePolicy {
  readonly name: string;
  /** Lower-case, without trailing dots; both empty for the default policy. */
  readonly match: { readonly domains: readonly string[]; readonly mxHosts: readonly string[] };
  readonly perIp: ResolvedPerIpRate;
  /** Across the whole pool for this destination; null: no pool-wide limit. */
  readonly poolMessagesPerMinute: number | null;
  readonly onThrottle: ResolvedOnThrottle;
  readonly tls: 'opportunistic' | 'required';
}

export interface Destination {
  /** Recipient domain. */
  domain: string;
  /** MX hosts of the domain, when known. */
  mxHosts?: readonly string[];
}

export type RatePolicyMatcher = (destination: Destination) => ResolvedRatePolicy;

/** Lower-case, trailing dot removed: the form names are compared in. */
export function normaliseHostName(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, '');
}

/** Whether a (normalised) host name fits a pattern: exact, or a glob where "*" is any run. */
export function hostPatternMatches(pattern: string, name: string): boolean {
  return compilePattern(normaliseHostName(pattern))(normaliseHostName(name));
}

/** Validates the pool's rate policies and returns them resolved, the default policy last. */
export function resolveRatePolicies(
  specs: readonly RatePolicySpec[] = [],
): readonly ResolvedRatePolicy[] {
  const seen = new Set<string>();
  for (const spec of specs) {
    if (typeof spec.name !== 'string' || spec.name.trim() === '') {
      throw new BadRatePolicyError(String(spec.name), 'a rate policy needs a name');
    }
    if (seen.has(spec.name)) throw new BadRatePolicyError(spec.name, 'the name is used twice');
    seen.add(spec.name);
  }
  const defaultSpec = specs.find((s) => s.name === DEFAULT_RATE_POLICY_NAME) ?? {
    name: DEFAULT_RATE_POLICY_NAME,
  };
  if (hasPatterns(defaultSpec)) {
    throw new BadRatePolicyError(
      DEFAULT_RATE_POLICY_NAME,
      'the default policy is the catch-all and takes no match',
    );
  }
  const fallback = resolveOne(defaultSpec, undefined);
  const resolved = specs
    .filter((s) => s.name !== DEFAULT_RATE_POLICY_NAME)
    .map((spec) => {
      if (!hasPatterns(spec)) {
        throw new BadRatePolicyError(spec.name, 'match lists no domains and no mxHosts');
      }
      return resolveOne(spec, fallback);
    });
  return Object.freeze([...resolved, fallback]);
}

/** Compiles the policies' patterns once; the matcher returns the first policy that fits. */
export function createRatePolicyMatcher(
  policies: readonly ResolvedRatePolicy[],
): RatePolicyMatcher {
  const fallback = policies.find((p) => p.name === DEFAULT_RATE_POLICY_NAME);
  if (fallback === undefined) {
    throw new BadRatePolicyError(DEFAULT_RATE_POLICY_NAME, 'resolved policies lack the default');
  }
  const compiled = policies
    .filter((p) => p !== fallback)
    .map((policy) => ({
      policy,
      domains: policy.match.domains.map(compilePattern),
      mxHosts: policy.match.mxHosts.map(compilePattern),
    }));
  return (destination) => {
    const domain = normaliseHostName(destination.domain);
    const mxHosts = (destination.mxHosts ?? []).map(normaliseHostName);
    const hit = compiled.find(
      (c) => c.domains.some((fits) => fits(domain)) || c.mxHosts.some((fits) => mxHosts.some(fits)),
    );
    return hit?.policy ?? fallback;
  };
}

/** One-off lookup; prefer createRatePolicyMatcher for many. */
export function matchRatePolicy(
  policies: readonly ResolvedRatePolicy[],
  destination: Destination,
): ResolvedRatePolicy {
  return createRatePolicyMatcher(policies)(destination);
}

function hasPatterns(spec: RatePolicySpec): boolean {
  return (spec.match?.domains?.length ?? 0) + (spec.match?.mxHosts?.length ?? 0) > 0;
}

function resolveOne(
  spec: RatePolicySpec,
  fallback: ResolvedRatePolicy | undefined,
): ResolvedRatePolicy {
  const name = spec.name;
  const base = fallback?.perIp ?? DEFAULT_PER_IP_RATE;
  const perIp = spec.perIp ?? {};
  const at = `ratePolicies[${name}]`;
  const settings = resolveThrottleSettings(
    spec.onThrottle,
    `${at}.onThrottle`,
    fallback?.onThrottle,
  );
  const patterns = spec.onThrottle?.patterns ?? fallback?.onThrottle.patterns ?? [];
  const onThrottle: ResolvedOnThrottle = Object.freeze({
    ...settings,
    patterns: Object.freeze(checkPatterns(patterns, at)),
  });
  const tls = spec.tls ?? fallback?.tls ?? 'opportunistic';
  if (tls !== 'opportunistic' && tls !== 'required') {
    throw new BadRatePolicyError(name, `tls must be opportunistic or required, got ${String(tls)}`);
  }
  const pool = spec.poolMessagesPerMinute ?? fallback?.poolMessagesPerMinute ?? null;
  if (pool !== null) positive(name, 'poolMessagesPerMinute', pool, false);
  return Object.freeze({
    name,
    match: Object.freeze({
      domains: Object.freeze(checkHostPatterns(spec.match?.domains ?? [], name, 'domains')),
      mxHosts: Object.freeze(checkHostPatterns(spec.match?.mxHosts ?? [], name, 'mxHosts')),
    }),
    perIp: Object.freeze({
      messagesPerMinute: positive(
        name,
        'perIp.messagesPerMinute',
        perIp.messagesPerMinute ?? base.messagesPerMinute,
        false,
      ),
      connections: positive(name, 'perIp.connections', perIp.connections ?? base.connections, true),
      messagesPerConnection: positive(
        name,
        'perIp.messagesPerConnection',
        perIp.messagesPerConnection ?? base.messagesPerConnection,
        true,
      ),
      recipientsPerMessage: positive(
        name,
        'perIp.recipientsPerMessage',
        perIp.recipientsPerMessage ?? base.recipientsPerMessage,
        true,
      ),
    }),
    poolMessagesPerMinute: pool,
    onThrottle,
    tls,
  });
}

function positive(policy: string, field: string, value: number, whole: boolean): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value > 0;
  if (!ok || (whole && !Number.isInteger(value))) {
    const kind = whole ? 'a whole number >= 1' : 'a number > 0';
    throw new BadRatePolicyError(policy, `${field} must be ${kind}, got ${String(value)}`);
  }
  return value;
}

function checkHostPatterns(patterns: readonly string[], policy: string, field: string): string[] {
  return patterns.map((raw, i) => {
    const pattern = typeof raw === 'string' ? normaliseHostName(raw) : '';
    if (!/^[a-z0-9*]([a-z0-9*.-]*[a-z0-9*])?$/.test(pattern) || pattern.includes('..')) {
      throw new BadRatePolicyError(
        policy,
        `match.${field}[${i}] ${JSON.stringify(raw)} is not a host name or glob`,
      );
    }
    return pattern;
  });
}

function checkPatterns(patterns: readonly string[], at: string): string[] {
  return patterns.map((pattern, i) => {
    try {
      new RegExp(pattern, 'i');
    } catch (cause) {
      throw new BadThrottleError(
        `${at}.onThrottle.patterns[${i}] ${JSON.stringify(pattern)} does not compile`,
        cause,
      );
    }
    return pattern;
  });
}

function compilePattern(pattern: string): (name: string) => boolean {
  if (!pattern.includes('*')) return (name) => name === pattern;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
    .join('.*');
  const regex = new RegExp(`^${source}$`);
  return (name) => regex.test(name);
}
