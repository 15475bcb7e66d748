/**
 * The reputation guard's metrics. The gauges are read from the shared state (the KV
 * entries every replica watches) when scraped, so every replica reports the same values;
 * alerts take the max over replicas. Labels: pool, ip, zone, reason, check — all bounded
 * by the pools' declarations.
 */

import { METRICS } from '@hikyaku/core';
import type { IpReputation } from '@hikyaku/core/policy';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ReputationMetrics {
  checkDuration: Histogram<'check'>;
  checkFailures: Counter<'check' | 'zone'>;
}

export function createReputationMetrics(deps: {
  registry: Registry;
  /** Every pool's IPs as last stored, and whether each pool still has an IP that may send. */
  snapshot(): { pool: string; states: IpReputation[]; allPaused: boolean }[];
}): ReputationMetrics {
  const registers = [deps.registry];
  const listed = new Gauge({
    name: METRICS.ipListed,
    help: 'An IP is listed on a DNS blocklist zone (1), by the last check',
    labelNames: ['pool', 'ip', 'zone'],
    registers,
    collect() {
      listed.reset();
      paused.reset();
      ptr.reset();
      allPaused.reset();
      for (const { pool, states, allPaused: all } of deps.snapshot()) {
        allPaused.set({ pool }, all ? 1 : 0);
        for (const s of states) {
          for (const l of s.listings) listed.set({ pool, ip: s.address, zone: l.zone }, 1);
          if (s.paused) paused.set({ pool, ip: s.address, reason: s.paused.reason }, 1);
          ptr.set({ pool, ip: s.address }, s.ptr?.verdict === 'mismatch' ? 1 : 0);
        }
      }
    },
  });
  const paused = new Gauge({
    name: METRICS.ipPaused,
    help: 'An IP is paused by the reputation guard (1), with the reason',
    labelNames: ['pool', 'ip', 'reason'],
    registers,
  });
  const ptr = new Gauge({
    name: METRICS.ipPtrMismatch,
    help: "An IP's reverse DNS does not confirm its hostname (1)",
    labelNames: ['pool', 'ip'],
    registers,
  });
  const allPaused = new Gauge({
    name: METRICS.poolAllIpsPaused,
    help: 'Every IP of the pool is paused (1): its mail waits',
    labelNames: ['pool'],
    registers,
  });
  return {
    checkDuration: new Histogram({
      name: METRICS.reputationCheckDuration,
      help: 'Time one reputation DNS check took (dnsbl: one zone; fcrdns: PTR and forward)',
      labelNames: ['check'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    checkFailures: new Counter({
      name: METRICS.reputationCheckFailures,
      help: 'Reputation DNS checks whose answer could not be read (refused, SERVFAIL, timeout)',
      labelNames: ['check', 'zone'],
      registers,
    }),
  };
}
