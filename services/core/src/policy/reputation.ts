/**
 * The reputation guard's policy: what the checks of a sending IP mean and when the IP is
 * paused or resumed. Pure: DNS answers, receivers' counts and the time are passed in; the
 * scheduler runs the lookups and keeps the state (NATS KV), the operator shows it.
 *
 * An IP is paused while a cause stands: a listing on a zone whose action is `pause`, a
 * failed forward-confirmed reverse DNS when fcrdns is `pause`, or a share of block replies
 * over the threshold when blockReplies.action is `pause`. It resumes once no cause has
 * stood for the cool-down, or at once by hand (a cause a human resumed past no longer
 * pauses until it clears and comes back). An unknown answer (a refused query, SERVFAIL, a
 * timeout) changes nothing: it neither lists nor delists.
 */
import type { DnsblAnswer, DnsLookup } from './dnsbl.ts';
import { MINUTE } from './duration.ts';
import type { ReputationSettings, ZoneAction } from './reputation-settings.ts';

export type PauseReason = 'listed' | 'ptr-mismatch' | 'block-replies';
export const PAUSE_REASONS: readonly PauseReason[] = ['listed', 'ptr-mismatch', 'block-replies'];

export interface Listing {
  zone: string;
  action: ZoneAction;
  codes: string[];
  meaning: string;
  /** Epoch ms the listing was first seen. */
  since: number;
}

export type PtrVerdict = 'pass' | 'mismatch' | 'unknown';

export interface PtrCheck {
  verdict: PtrVerdict;
  /** PTR names of the IP, as answered. */
  names: string[];
  detail: string;
}

/** Receivers' replies to one IP over the window, counted per recipient. */
export interface ReceiverCounts {
  attempted: number;
  /** Refused for block lists, IP or content reputation, or the sender's authentication. */
  blocked: number;
  hard: number;
  throttled: number;
}

/** Where one IP of a pool stands; stored in NATS KV, one entry per IP. */
export interface IpReputation {
  v: 1;
  address: string;
  /** The EHLO name FCrDNS was checked against. */
  hostname: string;
  /** When the DNS checks last ran, for which pool generation, and when they are due. */
  checkedAt?: number;
  generation?: number;
  nextCheckAt?: number;
  listings: Listing[];
  /** Zones whose last answer could not be read (refused, SERVFAIL, timeout). */
  unknown: { zone: string; why: string }[];
  ptr?: PtrCheck;
  receivers?: ReceiverCounts;
  paused?: { reason: PauseReason; detail: string; since: number };
  /** When the last cause cleared while paused: it resumes at clearedAt + cool-down. */
  clearedAt?: number;
  /** Last resumed by hand. */
  resumedAt?: number;
  /** The resume request (annotation value) last carried out, so it is carried out once. */
  resumeRequest?: string;
  /** Causes a human resumed past; they pause again only after clearing. */
  acknowledged: string[];
}

export function emptyReputation(address: string, hostname: string): IpReputation {
  return { v: 1, address, hostname, listings: [], unknown: [], acknowledged: [] };
}

/** DNS checks run on a schedule, and at once when the pool or the IP's hostname changed. */
export function dnsChecksDue(
  state: IpReputation | undefined,
  ip: { hostname: string },
  generation: number,
  now: number,
): boolean {
  if (!state || state.checkedAt === undefined || state.nextCheckAt === undefined) return true;
  return (
    state.generation !== generation || state.hostname !== ip.hostname || now >= state.nextCheckAt
  );
}

/** The next check: the interval give or take 15 %, so many IPs and pools do not ask together. */
export function nextCheckAt(now: number, settings: ReputationSettings, rng: () => number): number {
  return now + Math.round(settings.checkIntervalMs * (0.85 + 0.3 * rng()));
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, '') === b.toLowerCase().replace(/\.$/, '');
}

/**
 * Forward-confirmed reverse DNS: the IP's PTR names include its EHLO hostname, and that
 * hostname resolves back to the IP. `forward` is the hostname's A (IPv4) or AAAA (IPv6)
 * lookup; it is not needed when the PTR already fails.
 */
export function fcrdnsVerdict(input: {
  address: string;
  hostname: string;
  ptr: DnsLookup;
  forward?: DnsLookup;
  /** Compares addresses (IPv6 has many spellings); exact match when absent. */
  sameAddress?: (a: string, b: string) => boolean;
}): PtrCheck {
  const { address, hostname, ptr, forward } = input;
  const same = input.sameAddress ?? ((a: string, b: string) => a === b);
  if (ptr.kind === 'error') {
    return {
      verdict: 'unknown',
      names: [],
      detail: `PTR lookup of ${address} failed (${ptr.code})`,
    };
  }
  if (ptr.kind === 'none' || ptr.values.length === 0) {
    return {
      verdict: 'mismatch',
      names: [],
      detail: `${address} has no PTR record; it should be ${hostname}`,
    };
  }
  const names = ptr.values.map((n) => n.toLowerCase().replace(/\.$/, ''));
  if (!names.some((n) => sameName(n, hostname))) {
    return {
      verdict: 'mismatch',
      names,
      detail: `PTR of ${address} is ${names.join(', ')}, not the EHLO name ${hostname}`,
    };
  }
  if (!forward || forward.kind === 'error') {
    const why = forward?.kind === 'error' ? forward.code : 'not asked';
    return { verdict: 'unknown', names, detail: `forward lookup of ${hostname} failed (${why})` };
  }
  const back = forward.kind === 'answer' ? forward.values : [];
  if (!back.some((a) => same(a, address))) {
    const what = back.length > 0 ? `resolves to ${back.join(', ')}` : 'does not resolve';
    return { verdict: 'mismatch', names, detail: `${hostname} ${what}, not back to ${address}` };
  }
  return { verdict: 'pass', names, detail: `${address} ⇄ ${hostname}` };
}

export interface DnsFindings {
  zones: { zone: string; action: ZoneAction; answer: DnsblAnswer }[];
  /** Absent when fcrdns is off. */
  ptr?: PtrCheck;
}

/**
 * Folds one round of DNS checks into the state. A zone that answered unknown keeps what it
 * said before; so does an unknown PTR verdict.
 */
export function applyDnsFindings(
  state: IpReputation,
  findings: DnsFindings,
  at: { now: number; generation: number; nextCheckAt: number; hostname: string },
): IpReputation {
  const before = new Map(state.listings.map((l) => [l.zone, l]));
  const listings: Listing[] = [];
  const unknown: { zone: string; why: string }[] = [];
  for (const { zone, action, answer } of findings.zones) {
    const old = before.get(zone);
    if (answer.kind === 'listed') {
      listings.push({
        zone,
        action,
        codes: answer.codes,
        meaning: answer.meaning,
        since: old?.since ?? at.now,
      });
    } else if (answer.kind === 'unknown') {
      unknown.push({ zone, why: answer.why });
      if (old) listings.push({ ...old, action });
    }
  }
  let ptr = findings.ptr;
  if (
    ptr?.verdict === 'unknown' &&
    state.ptr &&
    state.ptr.verdict !== 'unknown' &&
    state.hostname === at.hostname
  ) {
    ptr = state.ptr;
  }
  const next: IpReputation = {
    ...state,
    hostname: at.hostname,
    checkedAt: at.now,
    generation: at.generation,
    nextCheckAt: at.nextCheckAt,
    listings,
    unknown,
  };
  if (ptr) next.ptr = ptr;
  else delete next.ptr;
  return next;
}

interface Cause {
  key: string;
  reason: PauseReason;
  detail: string;
}

export function blockRepliesBreached(
  counts: ReceiverCounts | undefined,
  settings: ReputationSettings,
): boolean {
  if (!counts) return false;
  const { minAttempts, threshold } = settings.blockReplies;
  return counts.attempted >= minAttempts && counts.blocked / counts.attempted >= threshold;
}

/** Every condition that calls for a pause now, acknowledged or not, in reason order. */
function causes(state: IpReputation, settings: ReputationSettings): Cause[] {
  const out: Cause[] = [];
  for (const l of state.listings) {
    if (l.action === 'pause')
      out.push({
        key: `listed:${l.zone}`,
        reason: 'listed',
        detail: `listed on ${l.zone}: ${l.meaning}`,
      });
  }
  if (settings.fcrdns === 'pause' && state.ptr?.verdict === 'mismatch') {
    out.push({ key: 'ptr', reason: 'ptr-mismatch', detail: state.ptr.detail });
  }
  if (settings.blockReplies.action === 'pause' && blockRepliesBreached(state.receivers, settings)) {
    const r = state.receivers as ReceiverCounts;
    out.push({
      key: 'block-replies',
      reason: 'block-replies',
      detail: `${r.blocked} of ${r.attempted} recipients refused for reputation or policy in the last ${Math.round(settings.blockReplies.windowMs / MINUTE)} min`,
    });
  }
  return out;
}

/**
 * Pauses an IP when a cause stands that no human resumed past, and resumes it once none
 * has stood for the cool-down. A cause that was resumed past stops counting as
 * acknowledged once it clears, so it pauses again when it comes back.
 */
export function decidePause(
  state: IpReputation,
  settings: ReputationSettings,
  now: number,
): IpReputation {
  const all = causes(state, settings);
  const standing = new Set(all.map((c) => c.key));
  const acknowledged = state.acknowledged.filter((k) => standing.has(k));
  const active = settings.enabled ? all.filter((c) => !acknowledged.includes(c.key)) : [];
  const next: IpReputation = { ...state, acknowledged };
  const first = active[0];
  if (first) {
    next.paused = { reason: first.reason, detail: first.detail, since: state.paused?.since ?? now };
    delete next.clearedAt;
    return next;
  }
  if (!state.paused) {
    delete next.clearedAt;
    return next;
  }
  const clearedAt = state.clearedAt ?? now;
  if (!settings.enabled || now >= clearedAt + settings.coolDownMs) {
    delete next.paused;
    delete next.clearedAt;
    return next;
  }
  next.clearedAt = clearedAt;
  return next;
}

/** Resumed by hand: whatever pauses it now is acknowledged; a new cause pauses again. */
export function resumeByHand(
  state: IpReputation,
  settings: ReputationSettings,
  now: number,
): IpReputation {
  const next: IpReputation = {
    ...state,
    acknowledged: causes(state, settings).map((c) => c.key),
    resumedAt: now,
  };
  delete next.paused;
  delete next.clearedAt;
  // The block replies counted so far were already judged; the window starts again now.
  delete next.receivers;
  return next;
}

export type ReputationCondition = 'Paused' | 'Listed' | 'PtrMismatch' | 'Ok';

/** The one word a status row shows: paused first, then what only warns. */
export function reputationCondition(state: IpReputation | undefined): ReputationCondition {
  if (!state) return 'Ok';
  if (state.paused) return 'Paused';
  if (state.listings.length > 0) return 'Listed';
  if (state.ptr?.verdict === 'mismatch') return 'PtrMismatch';
  return 'Ok';
}

/** A JSON value read from KV is a reputation state this version understands. */
export function isIpReputation(value: unknown): value is IpReputation {
  const v = value as Partial<IpReputation> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    v.v === 1 &&
    typeof v.address === 'string' &&
    typeof v.hostname === 'string' &&
    Array.isArray(v.listings) &&
    Array.isArray(v.unknown) &&
    Array.isArray(v.acknowledged)
  );
}
