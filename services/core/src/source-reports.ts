/**
 * Senders report an assigned source address that is not present on their pod here (NATS
 * KV), and the operator shows it on the pool's status: sending from another address
 * instead would be a silent fallback, so the pool says what is wrong where a human looks.
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

export interface SourceReports {
  reportAbsent(pool: string, report: SourceAbsentReport): Promise<void>;
  clearAbsent(pool: string, address: string): Promise<void>;
  listAbsent(pool: string): Promise<SourceAbsentReport[]>;
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
  };
}
