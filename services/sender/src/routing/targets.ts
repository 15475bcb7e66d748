/**
 * Walking a route's hosts and addresses in order (RFC 5321 §5.1: try the next address or MX
 * host when one cannot be reached or answers with a temporary greeting). Which failures move
 * on is the sender's call, passed in as `tryNext`; this module only keeps the order and
 * collects what went wrong.
 */
import { AllTargetsFailedError, type TargetFailure } from './errors.ts';
import type { Route } from './resolver.ts';

/** One address to connect to. */
export interface Target {
  host: string;
  port: number;
  address: string;
  preference?: number;
}

export interface TryTargetsOptions {
  /**
   * Whether a failure should move on to the next target (connection refused or timed out,
   * a 4xx greeting) or end the attempt at once, rethrown as it is (a 5xx greeting, a failure
   * after the transaction began).
   */
  tryNext(error: unknown, target: Target): boolean;
  /** Stop after this many targets (a domain may list dozens of addresses). */
  maxTargets?: number;
}

/**
 * The targets of a route, host by host and address by address. An address already listed
 * under an earlier host (two MX names for one server) is not tried twice.
 */
export function* targetsOf(route: Pick<Route, 'candidates'>): Generator<Target> {
  const seen = new Set<string>();
  for (const { host, port, addresses, preference } of route.candidates) {
    for (const address of addresses) {
      const key = `${address.toLowerCase()}|${port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      yield preference === undefined
        ? { host, port, address }
        : { host, port, address, preference };
    }
  }
}

/**
 * Runs `attempt` on each target in turn until one succeeds, and returns its result. Throws
 * the failure itself when `tryNext` says to stop, and AllTargetsFailedError (with every
 * failure, the last as its cause) when the targets run out.
 */
export async function tryTargets<T>(
  route: Pick<Route, 'domain' | 'candidates'>,
  attempt: (target: Target) => Promise<T>,
  options: TryTargetsOptions,
): Promise<T> {
  const limit = options.maxTargets ?? Number.POSITIVE_INFINITY;
  const failures: TargetFailure[] = [];
  for (const target of targetsOf(route)) {
    if (failures.length >= limit) break;
    try {
      return await attempt(target);
    } catch (error) {
      if (!options.tryNext(error, target)) throw error;
      failures.push({ target, error });
    }
  }
  throw new AllTargetsFailedError(route.domain, failures);
}
