/**
 * AUTH attempts, counted per client address before their password is checked: an attempt
 * is admitted only while the count is under the limit, so however many attempts a client
 * sends at once, at most the limit of them is ever checked. A failed attempt is answered
 * after a delay that doubles with every attempt counted, and the one that reaches the limit
 * is answered with 421 4.7.0 and the connection closed; later attempts from that address
 * are refused the same way without their password being checked, until the lockout period
 * has passed since the last attempt counted. A successful AUTH clears the count. IPv6
 * clients are counted per /64, the block one host usually holds.
 *
 * The count sessions use (`AuthThrottle`) is shared by every ingress replica through Redis
 * (auth-throttle-redis.ts), so a load balancer spreading a client over N replicas does not
 * give it N times the attempts. This file holds what does not depend on where the count
 * lives: the client unit, the delay policy, and the in-process count (`LocalAuthThrottle`)
 * that stands in whenever Redis does not answer in time, so throttling never switches off.
 */
import { isIPv6 } from 'node:net';

export interface AuthThrottleOptions {
  /** Delay after the first failure; doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts without a success after which the address is locked out. */
  maxFailures: number;
  /** How long an address stays counted (and locked) after its last attempt counted. */
  lockoutMs: number;
  /** Bound on the addresses remembered; the least recently failing are forgotten first. */
  maxEntries?: number;
}

/** What a failed attempt means for the client. */
export interface AuthFailure {
  /** Attempts counted, this one included. */
  failures: number;
  /** Wait this long before answering. */
  delayMs: number;
  /** This failure reached the limit: answer 421 4.7.0 and close. */
  locked: boolean;
}

/**
 * The decision on an attempt, made before its password is checked: refused unchecked
 * (the client is locked out), or counted, with what it means if the password is wrong.
 */
export type AuthAdmission = { admitted: false } | { admitted: true; ifFailed: AuthFailure };

/** The throttle sessions use. It never rejects: when the shared count is out of reach it
 * answers from the in-process one. */
export interface AuthThrottle {
  /** Counts an attempt before its password is checked; attempts in flight count. */
  attempt(address: string): Promise<AuthAdmission>;
  /** The password was right: the count of the address is cleared. */
  success(address: string): Promise<void>;
}

/** The count of this process alone. */
export interface LocalAuthThrottle {
  attempt(address: string): AuthAdmission;
  success(address: string): void;
}

interface Entry {
  failures: number;
  last: number;
}

/** The unit a client is counted in: the address, or its /64 for IPv6. */
export function throttleKey(address: string): string {
  const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!isIPv6(plain)) return plain;
  const [head = '', tail = ''] = plain.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = plain.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** What the `failures`-th attempt in a row means for the client when it fails. */
export function failureOutcome(failures: number, options: AuthThrottleOptions): AuthFailure {
  const locked = failures >= options.maxFailures;
  const delayMs = locked
    ? 0
    : Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (failures - 1));
  return { failures, delayMs, locked };
}

export function createLocalAuthThrottle(
  options: AuthThrottleOptions,
  now: () => number = Date.now,
): LocalAuthThrottle {
  const maxEntries = options.maxEntries ?? 100_000;
  const entries = new Map<string, Entry>();

  function current(key: string): Entry | undefined {
    const entry = entries.get(key);
    if (entry && now() - entry.last >= options.lockoutMs) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  function touch(key: string, entry: Entry): void {
    // Re-inserting keeps the map in order of last failure, so the oldest go first.
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value as string;
      entries.delete(oldest);
    }
  }

  return {
    attempt(address) {
      const key = throttleKey(address);
      const entry = current(key) ?? { failures: 0, last: 0 };
      if (entry.failures >= options.maxFailures) return { admitted: false };
      entry.failures++;
      entry.last = now();
      touch(key, entry);
      return { admitted: true, ifFailed: failureOutcome(entry.failures, options) };
    },

    success(address) {
      entries.delete(throttleKey(address));
    },
  };
}
