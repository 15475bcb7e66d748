/**
 * The sender's metrics. Labels are bounded: pool, IP, rate policy, outcome status, reply
 * class, the TLS version and cipher a connection negotiated, and MTA-STS modes and results.
 */

import { METRICS, type RecipientOutcome } from '@hikyaku/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MtaStsResult } from './deliver.ts';
import type { HandoffOutcome } from './result-handoff.ts';
import type { TlsInfo } from './smtp-session.ts';

/** What the MTA-STS counter counts: delivery events, and policies that could not be had. */
export type MtaStsMetricResult = MtaStsResult | 'fetch_failed' | 'invalid_policy';

export interface IpLabels {
  pool: string;
  ip: string;
}

export function createSenderMetrics(registry: Registry) {
  const registers = [registry];
  const attempts = new Counter({
    name: METRICS.senderAttempts,
    help: 'Delivery attempts (one per job)',
    labelNames: ['pool', 'ip', 'policy'],
    registers,
  });
  const outcomes = new Counter({
    name: METRICS.senderOutcomes,
    help: 'Recipient outcomes (delivered, deferred, failed) by reply class',
    labelNames: ['pool', 'ip', 'policy', 'status', 'class'],
    registers,
  });
  const latency = new Histogram({
    name: METRICS.senderTransactionLatency,
    help: 'Duration of one SMTP transaction, MAIL FROM to the reply to the final dot',
    labelNames: ['pool', 'ip', 'policy'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  const open = new Gauge({
    name: METRICS.senderOpenConnections,
    help: 'SMTP connections open per sending IP',
    labelNames: ['pool', 'ip'],
    registers,
  });
  const connections = new Counter({
    name: METRICS.senderConnections,
    help: 'SMTP connections opened, by the TLS version and cipher negotiated ("none": clear text)',
    labelNames: ['pool', 'ip', 'tls_version', 'tls_cipher'],
    registers,
  });
  const inProgress = new Gauge({
    name: METRICS.senderJobsInProgress,
    help:
      'Jobs held per sending IP: waiting for a delivery slot, being delivered (or waiting ' +
      'for a connection), or waiting for their result to be recorded',
    labelNames: ['pool', 'ip'],
    registers,
  });
  const resultsNotStored = new Counter({
    name: METRICS.senderResultStoreFailures,
    help:
      'Failed attempts to store a delivery result; the result is kept and retried, and no ' +
      'new delivery starts until results are stored again',
    labelNames: ['pool'],
    registers,
  });
  const handoffs = new Counter({
    name: METRICS.senderResultHandoffs,
    help:
      'Results handed to a scheduler directly (handed_off), or stored in HIKYAKU_RESULTS ' +
      'instead because no scheduler subscribed (no_responders), none answered in time ' +
      '(timeout), one answered with an error (refused) or the request failed (failed)',
    labelNames: ['pool', 'outcome'],
    registers,
  });
  const handedBack = new Counter({
    name: METRICS.senderHandedBack,
    help: 'Jobs handed back to JetStream unfinished, for redelivery (shutdown)',
    labelNames: ['pool', 'ip'],
    registers,
  });
  const sourceAbsent = new Gauge({
    name: METRICS.senderSourceIpAbsent,
    help: '1 while an IP assigned to this pod is not present on it (its jobs are deferred)',
    labelNames: ['pool', 'ip'],
    registers,
  });
  const mtaSts = new Counter({
    name: METRICS.senderMtaSts,
    help:
      'MTA-STS: transactions through hosts meeting the policy (validated) or not (would_fail, testing), ' +
      'hosts skipped and attempts deferred under enforce (mx_skipped, failed), and policies that ' +
      'could not be fetched or parsed (mode: the cached policy still applied, or none)',
    labelNames: ['pool', 'mode', 'result'],
    registers,
  });

  return {
    mtaSts(pool: string, mode: string, result: MtaStsMetricResult): void {
      mtaSts.inc({ pool, mode, result });
    },
    attempt(labels: IpLabels, policy: string): void {
      attempts.inc({ ...labels, policy });
    },
    outcomes(labels: IpLabels, policy: string, list: readonly RecipientOutcome[]): void {
      for (const o of list) {
        outcomes.inc({ ...labels, policy, status: o.status, class: `${String(o.code)[0]}xx` });
      }
    },
    transaction(labels: IpLabels, policy: string, seconds: number): void {
      latency.observe({ ...labels, policy }, seconds);
    },
    connectionOpened(labels: IpLabels, tls: TlsInfo | undefined, closed: Promise<void>): void {
      connections.inc({
        ...labels,
        tls_version: tls?.version ?? 'none',
        tls_cipher: tls?.cipher ?? 'none',
      });
      open.inc(labels);
      closed.finally(() => open.dec(labels));
    },
    jobStarted(labels: IpLabels): () => void {
      inProgress.inc(labels);
      return () => inProgress.dec(labels);
    },
    handedBack(labels: IpLabels): void {
      handedBack.inc(labels);
    },
    resultHandoff(pool: string, outcome: HandoffOutcome): void {
      handoffs.inc({ pool, outcome });
    },
    resultNotStored(pool: string): void {
      resultsNotStored.inc({ pool });
    },
    sourceAbsent(labels: IpLabels, absent: boolean): void {
      sourceAbsent.set(labels, absent ? 1 : 0);
    },
  };
}

export type SenderMetrics = ReturnType<typeof createSenderMetrics>;
