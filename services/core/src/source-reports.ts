/**
 * Senders report an assigned source address that is not present on their pod here (NATS
 * KV), and the operator shows it on the pool's status: sending from another address
 * instead would be a silent fallback, so the pool says what is wrong where a human looks.
 * The scheduler reports sender domains and submitters over their complaint guard's lines
 * here too.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { KV_BUCKETS, KV_KEYS } from './contract/subjects.ts';
import { liveKvEntries } from './kv-list.ts';

export interface SourceAbsentReport {
  address: string;
  pod: string;
  /** Epoch ms the sender first found the address missing. */
  since: number;
}

/** A sender domain whose complaint rate is over the warning or stop line, or that is held. */
export interface ComplaintReport {
  domain: string;
  level: 'warn' | 'stop';
  rate: number;
  delivered: number;
  complaints: number;
  /** Its bulk mail is held until an admin releases it. */
  held: boolean;
}

/** The same for a submitter (the username mail was handed in under). */
export interface SubmitterComplaintReport extends Omit<ComplaintReport, 'domain'> {
  submitter: string;
}

export interface SourceReports {
  reportAbsent(pool: string, report: SourceAbsentReport): Promise<void>;
  clearAbsent(pool: string, address: string): Promise<void>;
  listAbsent(pool: string): Promise<SourceAbsentReport[]>;
  /** Makes the pool's complaint reports exactly `reports`. */
  syncComplaints(pool: string, reports: readonly ComplaintReport[]): Promise<void>;
  listComplaints(pool: string): Promise<ComplaintReport[]>;
  /** Makes the pool's submitter complaint reports exactly `reports`. */
  syncSubmitterComplaints(
    pool: string,
    reports: readonly SubmitterComplaintReport[],
  ): Promise<void>;
  listSubmitterComplaints(pool: string): Promise<SubmitterComplaintReport[]>;
}

export async function openSourceReports(js: JetStreamClient, replicas = 1): Promise<SourceReports> {
  const kv: KV = await new Kvm(js).create(KV_BUCKETS.senderReports, { history: 1, replicas });
  const prefix = (pool: string): string => KV_KEYS.sourceAbsent(pool, '').replace(/\.$/, '');
  /** Makes the keys under `under` (a key ending in '.') exactly those of `reports`. */
  async function sync<T>(under: string, reports: readonly T[], keyOf: (r: T) => string) {
    const current = new Set(reports.map(keyOf));
    for (const { key } of await entriesUnder(`${under}>`)) {
      if (!current.has(key)) await kv.delete(key);
    }
    for (const report of reports) {
      const key = keyOf(report);
      const entry = await kv.get(key);
      const value = JSON.stringify(report);
      if (entry?.operation !== 'PUT' || entry.string() !== value) await kv.put(key, value);
    }
  }
  const jsm = await js.jetstreamManager(false);
  const entriesUnder = (filter: string) => liveKvEntries(jsm, kv, KV_BUCKETS.senderReports, filter);
  async function list<T>(under: string): Promise<T[]> {
    return (await entriesUnder(`${under}>`)).map((entry) => entry.json<T>());
  }
  return {
    async reportAbsent(pool, report) {
      await kv.put(KV_KEYS.sourceAbsent(pool, report.address), JSON.stringify(report));
    },
    async clearAbsent(pool, address) {
      await kv.delete(KV_KEYS.sourceAbsent(pool, address));
    },
    async listAbsent(pool) {
      const reports = (await entriesUnder(`${prefix(pool)}.>`)).map((entry) =>
        entry.json<SourceAbsentReport>(),
      );
      return reports.sort((a, b) => a.address.localeCompare(b.address));
    },
    syncComplaints: (pool, reports) =>
      sync(KV_KEYS.complaint(pool, ''), reports, (r) => KV_KEYS.complaint(pool, r.domain)),
    async listComplaints(pool) {
      const reports = await list<ComplaintReport>(KV_KEYS.complaint(pool, ''));
      return reports.sort((a, b) => a.domain.localeCompare(b.domain));
    },
    syncSubmitterComplaints: (pool, reports) =>
      sync(KV_KEYS.submitterComplaint(pool, ''), reports, (r) =>
        KV_KEYS.submitterComplaint(pool, r.submitter),
      ),
    async listSubmitterComplaints(pool) {
      const reports = await list<SubmitterComplaintReport>(KV_KEYS.submitterComplaint(pool, ''));
      return reports.sort((a, b) => a.submitter.localeCompare(b.submitter));
    },
  };
}
