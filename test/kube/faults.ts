/**
 * Faults a test injects to see an operator ride out what real API servers do: streams that
 * end, history that is compacted away, and stretches of failed requests.
 */
import type { WatchHub } from './watch.ts';

export interface RequestInfo {
  method: string;
  path: string;
  watch: boolean;
  /** The bearer token the request carried, if any: which client sent it. */
  user?: string;
}

export interface FailRequestsOptions {
  /** HTTP status to answer with (500 InternalError by default; 429, 503, 504 also named). */
  status?: number;
  /** Fail this many requests, then recover. */
  count?: number;
  /** Fail until this wall-clock time (`Date.now()` milliseconds). */
  untilMs?: number;
  /** Fail for this many milliseconds from now. */
  forMs?: number;
  /** Only requests this returns true for; all requests by default. */
  match?: (req: RequestInfo) => boolean;
}

export interface Faults {
  /** Ends every open watch stream cleanly, as a server does when a watch times out. */
  closeWatches(): void;
  /**
   * Answers matching requests with a `kind: Status` failure until `count` requests have
   * failed or the time has passed (whichever first); with neither, until `clear()`.
   */
  failRequests(options?: FailRequestsOptions): void;
  /** Forgets watch history: a watch resuming from any earlier resourceVersion gets a 410. */
  compactHistory(): void;
  /** Stops failing requests. */
  clear(): void;
}

export interface FaultState extends Faults {
  /** The status to fail this request with, consuming one from `count`; undefined to serve it. */
  failureFor(req: RequestInfo): number | undefined;
}

export function createFaults(hub: WatchHub): FaultState {
  let rule: (FailRequestsOptions & { remaining: number; deadline: number }) | undefined;
  return {
    closeWatches: () => hub.closeAll(),
    compactHistory: () => hub.compact(),
    clear() {
      rule = undefined;
    },
    failRequests(options = {}) {
      const deadlines = [options.untilMs, options.forMs && Date.now() + options.forMs];
      const deadline = Math.min(
        ...deadlines.filter((d): d is number => typeof d === 'number' && d > 0),
      );
      rule = { ...options, remaining: options.count ?? Number.POSITIVE_INFINITY, deadline };
    },
    failureFor(req) {
      if (!rule) return undefined;
      if (rule.remaining <= 0 || Date.now() >= rule.deadline) {
        rule = undefined;
        return undefined;
      }
      if (rule.match && !rule.match(req)) return undefined;
      rule.remaining -= 1;
      return rule.status ?? 500;
    },
  };
}
