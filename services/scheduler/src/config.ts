import { hostname } from 'node:os';
import {
  type CommonConfig,
  type Env,
  EnvReader,
  readCommonConfig,
  readDnsServers,
} from '@hikyaku/core';

export interface SchedulerConfig extends Omit<CommonConfig, 'pool'> {
  /** Messages handled at once per consumer (envelopes, queue items, results). */
  concurrency: number;
  streamReplicas: number;
  /** Pending (delayed) queue items the queue consumer may hold; bounds parked mail. */
  maxParked: number;
  /**
   * Longest single wait handed to JetStream (real ms). A parked item wakes at least this
   * often to look at its turn again (so a clock that jumps, or a pool change, is noticed).
   */
  maxParkMs: number;
  /**
   * Added to the minute of "messages per minute": at most N leave in any minute plus
   * this, so a receiver counting by its own clock never sees more than N in a minute
   * although delivery times vary by up to this much.
   */
  rateSlackMs: number;
  /** DNS servers for MX lookups ("host" or "host:port"); empty: the system's resolvers. */
  dnsServers: string[];
  dnsTimeoutMs: number;
  /** This relay's name in DSNs (Reporting-MTA, MAILER-DAEMON@...). */
  reportingMta: string;
}

export function readSchedulerConfig(env: Env): Readonly<SchedulerConfig> {
  const r = new EnvReader({ HIKYAKU_POOL: '*', ...env });
  const { pool: _pool, ...common } = readCommonConfig(r, { httpPort: 9102 });
  const dnsServers = readDnsServers(r);
  const reportingMta = r.string('HIKYAKU_REPORTING_MTA', hostname());
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(reportingMta)) {
    r.problem(`HIKYAKU_REPORTING_MTA: "${reportingMta}" is not a host name`);
  }
  return r.done({
    ...common,
    concurrency: r.int('HIKYAKU_SCHEDULER_CONCURRENCY', 64, { min: 1, max: 4096 }),
    streamReplicas: r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    maxParked: r.int('HIKYAKU_SCHEDULER_MAX_PARKED', 1_000_000, { min: 1000 }),
    maxParkMs: r.int('HIKYAKU_SCHEDULER_MAX_PARK_MS', 3_600_000, { min: 10 }),
    rateSlackMs: r.int('HIKYAKU_RATE_SLACK_MS', 1000, { min: 0, max: 60_000 }),
    dnsServers,
    dnsTimeoutMs: r.int('HIKYAKU_DNS_TIMEOUT_MS', 3000, { min: 50 }),
    reportingMta,
  });
}

/** The window of "messages per minute": a minute plus the slack (see reserve.ts). */
export function rateWindowMs(config: Pick<SchedulerConfig, 'rateSlackMs'>): number {
  return 60_000 + config.rateSlackMs;
}
