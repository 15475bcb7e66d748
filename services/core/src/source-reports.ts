/**
 * Senders report an assigned source address that is not present on their pod here (NATS
 * KV), and the operator shows it on the pool's status: sending from another address
 * instead would be a silent fallback, so the pool says what is wrong where a human looks.
 * The scheduler reports sender domains over their complaint guard's lines here too.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { KV_BUCKETS, KV_KEYS } from './contract/subjects.ts';

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

export interface SourceReports {
  reportAbsent(pool: string, report: SourceAbsentReport): Promise<void>;
  clearAbsent(pool: string, address: string): Promise<void>;
  listAbsent(pool: string): Promise<SourceAbsentReport[]>;
  /** Makes the pool's complaint reports exactly `reports`. */
  syncComplaints(pool: string, reports: readonly ComplaintReport[]): Promise<void>;
  listComplaints(pool: string): Promise<ComplaintReport[]>;
}

export async function openSourceReports(js: JetStreamClient, replicas = 1): Promise<SourceReports> {
  const kv: KV = await new Kvm(js).create(KV_BUCKETS.senderReports, { history: 1, replicas });
  const prefix = (pool: string): string => KV_KEYS.sourceAbsent(pool, '').replace(/\.$/, '');
  return {
    async reportAbsent(pool, report) {
      await kv.put(KV_KEYS.sourceAbsent(pool, report.address), JSON.stringify(report));
    },
    async clearAbsent(pool, address) {
      await kv.delete(KV_KEYS.sourceAbsent(pool, address));
    },
    async listAbsent(pool) {
      const reports: SourceAbsentReport[] = [];
      for await (const key of await kv.keys(`${prefix(pool)}.>`)) {
        const entry = await kv.get(key);
        if (entry && entry.operation === 'PUT') reports.push(entry.json<SourceAbsentReport>());
      }
      return reports.sort((a, b) => a.address.localeCompare(b.address));
    },
    async syncComplaints(pool, reports) {
      const current = new Set(reports.map((r) => KV_KEYS.complaint(pool, r.domain)));
      for await (const key of await kv.keys(`${KV_KEYS.complaint(pool, '')}>`)) {
        if (!current.has(key)) await kv.delete(key);
      }
      for (const report of reports) {
        const key = KV_KEYS.complaint(pool, report.domain);
        const entry = await kv.get(key);
        const value = JSON.stringify(report);
        if (entry?.operation !== 'PUT' || entry.string() !== value) await kv.put(key, value);
      }
    },
    async listComplaints(pool) {
      const reports: ComplaintReport[] = [];
      for await (const key of await kv.keys(`${KV_KEYS.complaint(pool, '')}>`)) {
        const entry = await kv.get(key);
        if (entry && entry.operation === 'PUT') reports.push(entry.json<ComplaintReport>());
      }
      return reports.sort((a, b) => a.domain.localeCompare(b.domain));
    },
  };
}
