/**
 * Which MTA-STS policy applies to a recipient domain (RFC 8461 §3, §5.1): the `_mta-sts`
 * TXT record names the current policy id; a policy is fetched when the id is new or the
 * cached one expired, and kept until its max_age. A cached, unexpired policy keeps applying
 * when the TXT record cannot be read or the fetch fails; without one, the domain is treated
 * as having no policy. A failed fetch is not repeated for every message: the same id is
 * tried again after FETCH_RETRY_MS.
 */
import type { Logger } from '@hikyaku/core';
import type { Clock } from '../routing/dns-cache.ts';
import type { DnsClient } from '../routing/dns-client.ts';
import { normaliseDomain } from '../routing/domain.ts';
import { fetchPolicyText, type PolicyFetchOptions } from './fetch.ts';
import { type MtaStsMode, type MtaStsPolicy, parsePolicy, parseStsRecord } from './policy.ts';

export interface KnownPolicy {
  domain: string;
  /** The id of the TXT record the policy was fetched under. */
  id: string;
  policy: MtaStsPolicy;
}

/** A policy could not be had; `using` says what applies instead. */
export interface DiscoveryFailure {
  domain: string;
  /** `invalid`: the file was fetched but is not a valid policy. */
  kind: 'fetch' | 'invalid';
  reason: string;
  /** The mode of the cached policy that still applies; 'none' when none does. */
  using: MtaStsMode;
}

export interface MtaStsDiscovery {
  /** The policy that applies now, or undefined when the domain has none (or none is known). */
  policyFor(domain: string): Promise<KnownPolicy | undefined>;
  /** Policies cached now. */
  size(): number;
}

export interface MtaStsDiscoveryOptions extends Omit<PolicyFetchOptions, 'dns'> {
  dns: Pick<DnsClient, 'txt' | 'a' | 'aaaa'>;
  clock: Clock;
  log?: Logger;
  /** Beyond this many domains the least recently used policies are dropped. */
  maxEntries?: number;
  onFailure?: (failure: DiscoveryFailure) => void;
}

export const MTA_STS_DEFAULTS = { maxEntries: 10_000, fetchRetryMs: 60_000 } as const;

interface Entry extends KnownPolicy {
  expiresAt: number;
}

export function createMtaStsDiscovery(options: MtaStsDiscoveryOptions): MtaStsDiscovery {
  const { clock, log } = options;
  const maxEntries = options.maxEntries ?? MTA_STS_DEFAULTS.maxEntries;
  const entries = new Map<string, Entry>();
  /** `domain id` → when a failed fetch of that policy may be tried again. */
  const failures = new Map<string, number>();
  const inFlight = new Map<string, Promise<KnownPolicy | undefined>>();

  const bound = <V>(map: Map<string, V>): void => {
    // Insertion order: the first key is the least recently stored (or used, for entries).
    while (map.size > maxEntries) {
      const oldest = map.keys().next();
      if (oldest.done) break;
      map.delete(oldest.value);
    }
  };

  const cachedPolicy = (domain: string): Entry | undefined => {
    const entry = entries.get(domain);
    if (!entry) return undefined;
    entries.delete(domain);
    if (entry.expiresAt <= clock.now()) return undefined;
    entries.set(domain, entry);
    return entry;
  };

  const currentId = async (domain: string): Promise<string | undefined> => {
    try {
      const answer = await options.dns.txt(`_mta-sts.${domain}`);
      return answer.kind === 'records' ? parseStsRecord(answer.records) : undefined;
    } catch (err) {
      // A TXT lookup that fails says nothing new; a cached policy keeps applying (§5.1).
      log?.debug({ err, domain }, 'MTA-STS TXT lookup failed');
      return undefined;
    }
  };

  const fetchPolicy = async (
    domain: string,
    id: string,
    cached: Entry | undefined,
  ): Promise<KnownPolicy | undefined> => {
    const fetchOptions: PolicyFetchOptions = {
      dns: options.dns,
      port: options.port,
      timeoutMs: options.timeoutMs,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}),
    };
    let kind: DiscoveryFailure['kind'] = 'fetch';
    try {
      const text = await fetchPolicyText(domain, fetchOptions);
      kind = 'invalid';
      const policy = parsePolicy(text);
      const known: KnownPolicy = { domain, id, policy };
      failures.delete(`${domain} ${id}`);
      if (policy.maxAge > 0) {
        entries.delete(domain);
        entries.set(domain, { ...known, expiresAt: clock.now() + policy.maxAge * 1000 });
        bound(entries);
      }
      return known;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      failures.set(`${domain} ${id}`, clock.now() + MTA_STS_DEFAULTS.fetchRetryMs);
      bound(failures);
      const using = cached?.policy.mode ?? 'none';
      options.onFailure?.({ domain, kind, reason, using });
      log?.warn(
        { domain, id, reason, code: 'HIKYAKU_MTA_STS_FETCH_FAILED' },
        cached
          ? `MTA-STS policy could not be ${kind === 'invalid' ? 'parsed' : 'fetched'}; the cached ${using} policy still applies`
          : `MTA-STS policy could not be ${kind === 'invalid' ? 'parsed' : 'fetched'}; delivering as without a policy`,
      );
      return cached;
    }
  };

  return {
    async policyFor(destination) {
      const domain = normaliseDomain(destination);
      if (domain === '') return undefined;
      const id = await currentId(domain);
      const cached = cachedPolicy(domain);
      if (id === undefined || cached?.id === id) return cached;
      const retryAt = failures.get(`${domain} ${id}`);
      if (retryAt !== undefined && retryAt > clock.now()) return cached;
      const key = `${domain} ${id}`;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const fetching = fetchPolicy(domain, id, cached).finally(() => inFlight.delete(key));
      inFlight.set(key, fetching);
      return fetching;
    },
    size: () => entries.size,
  };
}
