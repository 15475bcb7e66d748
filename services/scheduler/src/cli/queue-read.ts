/**
 * What `hikyaku queue` shows: the mail waiting in one pool, per destination, with how many
 * items, the oldest, and why they wait — read only, from what the scheduler keeps in Redis
 * (each rate policy's index of waiting items, the parking lanes, the retry waits, the
 * learned throttles, the warm-up counters, the held destinations) and the reputation
 * standing in NATS KV. Nothing here scans the queue stream: each index is read oldest first
 * up to `limit` entries, so a view of a huge queue costs a bounded read and says when it is
 * partial.
 */
import {
  activeIps,
  type CompiledPool,
  type IpStatus,
  type NatsHandles,
  openReputationStore,
  REDIS_KEYS,
  readIpStatus,
  readThrottleStates,
} from '@hikyaku/core';
import { nextDayStart, resolveRatePolicies } from '@hikyaku/core/policy';
import type { Redis } from 'ioredis';
import { createComplaintHolds } from '../complaint-holds.ts';
import { createDestinationHolds } from '../destination-holds.ts';
import { siteOf } from '../destinations.ts';
import { readRetryWaits } from '../retry-waits.ts';
import { type ThrottleRow, throttleRows } from './status-read.ts';

export interface QueueIp {
  address: string;
  state: IpStatus['state'];
  warmupDay: number | null;
  dailyLimit: number | null;
  sentToday: number;
  /** Why the reputation guard paused it, when it did. */
  reputationPause?: string;
  /** Not taking mail: no sender pod, draining, or its node cannot run it. */
  inactive?: boolean;
}

/** Why some of a destination's items wait, and how many. */
export type WaitCause =
  | { kind: 'held'; items: number; since: number }
  | { kind: 'no-active-ip'; items: number }
  | { kind: 'warmup-cap'; items: number; nextDay: number; ips: string[] }
  | { kind: 'retry'; items: number; nextAt: number }
  | { kind: 'throttled'; items: number; nextTurnAt: number; throttles: ThrottleRow[] }
  | { kind: 'rate'; items: number; nextTurnAt: number; messagesPerMinute: number }
  | { kind: 'due'; items: number };

export interface QueueDestination {
  domain: string;
  /** The rate policy and the budget ("site") the domain's mail counts against. */
  policy: string;
  site: string;
  items: number;
  /** Acceptance time of the oldest item seen (epoch ms). */
  oldestAt: number;
  causes: WaitCause[];
}

export interface QueueView {
  pool: string;
  /** Items waiting in the pool (every index, whole). */
  total: number;
  /** Items read to build the rows: less than total when an index was longer than the limit. */
  read: number;
  ips: QueueIp[];
  destinations: QueueDestination[];
  /** Destinations held by an admin, whether or not mail waits for them. */
  held: { domain: string; since: number }[];
  /**
   * Sender domains whose bulk mail the complaint guard holds (`hikyaku holds`): their
   * items wait without a mark the view can see, so they count as `due` below.
   */
  senderHolds: string[];
}

function domainOf(item: string): string {
  return item.split('|')[1] ?? '';
}

async function range(redis: Redis, key: string, limit: number): Promise<[string, number][]> {
  const flat = await redis.zrange(key, 0, limit - 1, 'WITHSCORES');
  const out: [string, number][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    out.push([flat[i] as string, Number(flat[i + 1])]);
  }
  return out;
}

export async function readQueueView(
  deps: { redis: Redis; nats: NatsHandles },
  pool: CompiledPool,
  now: number,
  options: { limit: number; domain?: string },
): Promise<QueueView> {
  const { redis } = deps;
  const { limit } = options;
  const policies = pool.resolvedRatePolicies ?? resolveRatePolicies(pool.ratePolicies);
  const [statusRows, throttles, reputation, heldMap, senderHolds] = await Promise.all([
    readIpStatus(redis, pool, now),
    readThrottleStates(redis, pool.key, now),
    openReputationStore(deps.nats.js).then((store) => store.list(pool.key)),
    createDestinationHolds(redis).list(pool.key),
    createComplaintHolds(redis).list(pool.key),
  ]);
  const paused = new Map(
    reputation.filter((r) => r.paused).map((r) => [r.address, r.paused?.reason ?? '']),
  );
  const active = new Set(activeIps(pool).map((ip) => ip.address));
  const ips: QueueIp[] = statusRows.map((row) => ({
    address: row.address,
    state: row.state,
    warmupDay: row.warmupDay,
    dailyLimit: row.dailyLimit,
    sentToday: row.sentToday,
    ...(paused.has(row.address) ? { reputationPause: paused.get(row.address) as string } : {}),
    ...(active.has(row.address) ? {} : { inactive: true }),
  }));
  const usable = ips.filter((ip) => !ip.inactive && ip.reputationPause === undefined);

  // The waiting items, oldest first, per policy.
  let total = 0;
  let read = 0;
  const items = new Map<string, { policy: string; entries: [string, number][] }>();
  for (const policy of policies) {
    const key = REDIS_KEYS.queued(pool.key, policy.name);
    const [count, entries] = await Promise.all([redis.zcard(key), range(redis, key, limit)]);
    total += count;
    read += entries.length;
    for (const entry of entries) {
      const domain = domainOf(entry[0]);
      if (options.domain && domain !== options.domain) continue;
      const row = items.get(domain) ?? { policy: policy.name, entries: [] };
      row.entries.push(entry);
      items.set(domain, row);
    }
  }

  // Where they wait: warm-up lanes (per home IP, or any IP under spill) and site lanes.
  const capLanes = [...pool.ips.map((ip) => `cap:${ip.address}`), 'cap:*'];
  const capped = new Map<string, string>();
  for (const lane of capLanes) {
    for (const [member] of await range(redis, REDIS_KEYS.lane(pool.key, lane), limit)) {
      capped.set(member, lane.slice('cap:'.length));
    }
  }
  const siteTurns = new Map<string, Map<string, number>>();
  const throttleList = throttleRows(throttles, now);
  const destinations: QueueDestination[] = [];
  for (const [domain, { policy, entries }] of items) {
    const site = siteOf(policy, domain);
    let turns = siteTurns.get(site);
    if (!turns) {
      turns = new Map(await range(redis, REDIS_KEYS.lane(pool.key, `site:${site}`), limit));
      siteTurns.set(site, turns);
    }
    const retries = await readRetryWaits(redis, pool.key, domain, now, limit);
    const retrying = new Set(retries.waits.map((w) => w.item));
    const held = heldMap.get(domain);
    const siteThrottles = throttleList
      .filter((t) => t.site === site)
      .sort((a, b) => a.ip.localeCompare(b.ip));
    const counts = new Map<WaitCause['kind'], number>();
    const capIps = new Set<string>();
    let nextTurnAt = Number.POSITIVE_INFINITY;
    for (const [member] of entries) {
      let kind: WaitCause['kind'];
      if (held) kind = 'held';
      else if (capped.has(member)) {
        kind = 'warmup-cap';
        capIps.add(capped.get(member) as string);
      } else if (retrying.has(member)) kind = 'retry';
      else if (turns.has(member)) {
        kind = siteThrottles.length > 0 ? 'throttled' : 'rate';
        nextTurnAt = Math.min(nextTurnAt, turns.get(member) as number);
      } else if (usable.length === 0) kind = 'no-active-ip';
      else kind = 'due';
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    const causes: WaitCause[] = [];
    for (const [kind, n] of counts) {
      if (kind === 'held') causes.push({ kind, items: n, since: held?.at ?? 0 });
      else if (kind === 'warmup-cap') {
        causes.push({
          kind,
          items: n,
          nextDay: nextDayStart(now, pool.timeZone),
          ips: [...capIps].map((ip) => (ip === '*' ? 'every IP' : ip)),
        });
      } else if (kind === 'retry') {
        causes.push({ kind, items: n, nextAt: retries.waits[0]?.at ?? now });
      } else if (kind === 'throttled') {
        causes.push({ kind, items: n, nextTurnAt, throttles: siteThrottles });
      } else if (kind === 'rate') {
        const declared = policies.find((p) => p.name === policy)?.perIp.messagesPerMinute ?? 0;
        causes.push({ kind, items: n, nextTurnAt, messagesPerMinute: declared });
      } else causes.push({ kind, items: n });
    }
    destinations.push({
      domain,
      policy,
      site,
      items: entries.length,
      oldestAt: Math.min(...entries.map(([, at]) => at)),
      causes,
    });
  }
  destinations.sort((a, b) => a.oldestAt - b.oldestAt || a.domain.localeCompare(b.domain));
  const held = [...heldMap]
    .filter(([domain]) => !options.domain || domain === options.domain)
    .map(([domain, hold]) => ({ domain, since: hold.at }))
    .sort((a, b) => a.domain.localeCompare(b.domain));
  return {
    pool: pool.key,
    total,
    read,
    ips,
    destinations,
    held,
    senderHolds: [...senderHolds.keys()].sort(),
  };
}

/** "1h02m", "3m05s", "12s": an age at a glance. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

const iso = (t: number) => new Date(t).toISOString();

/** One cause as the table says it. */
export function describeCause(cause: WaitCause): string {
  const n = `${cause.items} `;
  switch (cause.kind) {
    case 'held':
      return `${n}held since ${iso(cause.since)} (hikyaku queue --release)`;
    case 'no-active-ip':
      return `${n}no active IP (every IP paused, draining or without a sender)`;
    case 'warmup-cap':
      return `${n}warm-up cap: ${cause.ips.join(', ')} used today's cap; next day ${iso(cause.nextDay)}`;
    case 'retry':
      return `${n}retry wait: next attempt ${iso(cause.nextAt)}`;
    case 'throttled': {
      const each = cause.throttles.map((t) =>
        t.pausedUntil
          ? `${t.ip} paused until ${iso(t.pausedUntil)}, then ${t.messagesPerMinute}/min (declared ${t.declared})`
          : `${t.ip} ${t.messagesPerMinute}/min learned (declared ${t.declared})`,
      );
      return `${n}throttled: ${each.join(', ')}; next turn ${iso(cause.nextTurnAt)}`;
    }
    case 'rate':
      return `${n}at its rate (${cause.messagesPerMinute}/min per IP); next turn ${iso(cause.nextTurnAt)}`;
    case 'due':
      return `${n}due (being handed to a sender)`;
  }
}

function pad(cells: string[][]): string[] {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths?.[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The view as text: the pool line, its IPs, then one row per destination. */
export function formatQueueView(view: QueueView, pool: CompiledPool, now: number): string[] {
  const oldest = view.destinations.reduce((min, d) => Math.min(min, d.oldestAt), now);
  const lines = [
    `pool ${pool.key} (${pool.namespace}/${pool.name}): ${view.total} items waiting${view.total > 0 ? `, oldest ${age(now - oldest)}` : ''}`,
  ];
  if (view.read < view.total) {
    lines.push(`  (the oldest ${view.read} items read; raise --limit to see more)`);
  }
  const ipRows = [['  IP', 'state', 'warm-up', 'sent today', 'note']];
  for (const ip of view.ips) {
    const notes = [];
    if (ip.reputationPause) notes.push(`paused by the reputation guard (${ip.reputationPause})`);
    if (ip.inactive) notes.push('not taking mail (no sender, draining or node unavailable)');
    if (ip.dailyLimit !== null && ip.sentToday >= ip.dailyLimit) notes.push("today's cap used");
    ipRows.push([
      `  ${ip.address}`,
      ip.state,
      ip.warmupDay === null ? '-' : `day ${ip.warmupDay}`,
      ip.dailyLimit === null ? String(ip.sentToday) : `${ip.sentToday} of ${ip.dailyLimit}`,
      notes.join('; '),
    ]);
  }
  lines.push(...pad(ipRows));
  if (view.destinations.length === 0) {
    lines.push('  nothing waits');
  } else {
    const rows = [['  destination', 'items', 'oldest', 'why']];
    for (const d of view.destinations) {
      const [first, ...rest] = d.causes.map(describeCause);
      rows.push([`  ${d.domain}`, String(d.items), age(now - d.oldestAt), first ?? '']);
      for (const more of rest) rows.push(['', '', '', more]);
    }
    lines.push(...pad(rows));
  }
  if (view.senderHolds.length > 0) {
    lines.push(
      `  bulk mail of these sender domains is held for complaints (hikyaku holds), shown as due: ${view.senderHolds.join(', ')}`,
    );
  }
  for (const h of view.held) {
    if (!view.destinations.some((d) => d.domain === h.domain)) {
      lines.push(`  held: ${h.domain} since ${iso(h.since)} (nothing waiting)`);
    }
  }
  return lines;
}
