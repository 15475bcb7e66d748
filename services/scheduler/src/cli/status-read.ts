/**
 * What `hikyaku status` shows, read from where the relay keeps it: compiled pools from KV,
 * IP rows from the same Redis keys and pure policy the scheduler enforces (ip-status.ts),
 * the throttles it learned, and how much mail each stage of the path holds.
 */

import {
  bodyEnvelopesWaiting,
  type CompiledPool,
  type IpStatus,
  KV_BUCKETS,
  KV_KEYS,
  liveKvEntries,
  readIpStatus,
  readRelayWireVersion,
  readThrottleStates,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import { learnedRate, type ThrottleState } from '@hikyaku/core/policy';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Redis } from 'ioredis';

export interface ThrottleRow {
  ip: string;
  /** A rate policy's name, or "default:<domain>". */
  site: string;
  pausedUntil?: number;
  /** Messages a minute in force now (or when the pause ends), as adaptive shaping learned. */
  messagesPerMinute: number;
  /** The rate the policy declares for the pair. */
  declared: number;
  /** The rate at which the receiver last began to refuse. */
  ceiling: number;
}

export interface PoolStatus {
  pool: CompiledPool;
  ips: IpStatus[];
  throttles: ThrottleRow[];
  /** Stored items per stage of the path for this pool. */
  queue: { envelopes: number; items: number; jobs: number; results: number };
}

async function countFiled(jsm: JetStreamManager, stream: string, filter: string) {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
}

export async function readPools(jsm: JetStreamManager, kv: KV): Promise<CompiledPool[]> {
  const entries = await liveKvEntries(jsm, kv, KV_BUCKETS.pools, KV_KEYS.pool('>'));
  return entries.map((entry) => entry.json<CompiledPool>());
}

export async function readPoolStatus(
  deps: { jsm: JetStreamManager; redis: Redis },
  pool: CompiledPool,
  now: number,
): Promise<PoolStatus> {
  const [ips, throttles, envelopes, items, jobs, results] = await Promise.all([
    readIpStatus(deps.redis, pool, now),
    readThrottleStates(deps.redis, pool.key, now),
    countFiled(deps.jsm, STREAMS.envelopes, SUBJECTS.envelope(pool.key)),
    countFiled(deps.jsm, STREAMS.queue, SUBJECTS.queue(pool.key)),
    countFiled(deps.jsm, STREAMS.jobs, SUBJECTS.jobsOfPool(pool.key)),
    countFiled(deps.jsm, STREAMS.results, SUBJECTS.result(pool.key)),
  ]);
  return {
    pool,
    ips,
    throttles: throttleRows(throttles, now),
    queue: { envelopes, items, jobs, results },
  };
}

/** The learned throttles as rows: the rate in force now (or when a pause ends). */
export function throttleRows(
  throttles: Map<string, Map<string, ThrottleState>>,
  now: number,
): ThrottleRow[] {
  const rows: ThrottleRow[] = [];
  for (const [ip, sites] of throttles) {
    for (const [site, state] of sites) {
      rows.push({
        ip,
        site,
        ...(state.pausedUntil > now ? { pausedUntil: state.pausedUntil } : {}),
        messagesPerMinute: Math.round(learnedRate(state, Math.max(now, state.pausedUntil))),
        declared: state.declared,
        ceiling: Math.round(state.ceiling),
      });
    }
  }
  return rows;
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

/** The status screen of one pool. */
export function formatPoolStatus(status: PoolStatus): string[] {
  const { pool } = status;
  const lines = [
    `pool ${pool.key} (${pool.namespace}/${pool.name}), ${pool.ips.length} IPs, time zone ${pool.timeZone}`,
  ];
  const rows = [['  IP', 'state', 'warm-up day', 'sent today', 'daily cap', 'pod']];
  for (const ip of status.ips) {
    rows.push([
      `  ${ip.address}`,
      ip.state,
      ip.warmupDay === null ? '-' : String(ip.warmupDay),
      String(ip.sentToday),
      ip.dailyLimit === null ? '-' : String(ip.dailyLimit),
      ip.pod ?? '-',
    ]);
  }
  lines.push(...pad(rows));
  if (status.throttles.length === 0) {
    lines.push('  learned throttles: none');
  } else {
    lines.push('  learned throttles:');
    for (const t of status.throttles) {
      const rate = `${t.messagesPerMinute}/min (declared ${t.declared}, refused from ${t.ceiling})`;
      lines.push(
        t.pausedUntil
          ? `    ${t.ip} → ${t.site}: paused until ${new Date(t.pausedUntil).toISOString()}, then ${rate}`
          : `    ${t.ip} → ${t.site}: ${rate}`,
      );
    }
  }
  const q = status.queue;
  lines.push(
    `  mail held: ${q.envelopes} accepted to split, ${q.items} delivery items waiting, ${q.jobs} jobs at senders, ${q.results} results to record`,
  );
  return lines;
}

/**
 * Mail stored with its envelope in the body's message (wire version 2) and not yet split.
 * Its subjects name no pool, so it is read once for all pools.
 */
export interface AllPoolsStatus {
  envelopesInBodies: number;
  /** The relay's wire version (relay-wire-version.ts): what pods write unless told. */
  wireVersion: number;
}

export async function readAllPoolsStatus(jsm: JetStreamManager): Promise<AllPoolsStatus> {
  const [envelopesInBodies, relay] = await Promise.all([
    bodyEnvelopesWaiting(jsm),
    readRelayWireVersion(jsm.jetstream()),
  ]);
  return { envelopesInBodies, wireVersion: relay.version };
}

export function formatAllPoolsStatus(status: AllPoolsStatus): string[] {
  return [
    `all pools: ${status.envelopesInBodies} accepted to split, stored with their body (not counted per pool above)`,
    `wire version ${status.wireVersion} (hikyaku wire-version)`,
  ];
}
