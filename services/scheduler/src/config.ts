import { hostname } from 'node:os';
import {
  type CommonConfig,
  type Env,
  EnvReader,
  type Logger,
  readCommonConfig,
  readDnsServers,
  readWireVersion,
  type WireVersion,
  wireVersionToWrite,
} from '@hikyaku/core';
import type { JetStreamClient } from '@nats-io/jetstream';
import { RECIPIENT_LOG_MODES, type RecipientLogMode } from './attempt-log.ts';

/**
 * The default of HIKYAKU_SCHEDULER_GATHER_MS. A relay fed a few hundred messages a second
 * gathers several per turn in that time; a message waits at most that long before it is
 * split, and its result half as long before it is recorded (docs/performance.md,
 * "Gathering before a stage").
 */
export const DEFAULT_GATHER_MS = 20;

export interface SchedulerConfig extends Omit<CommonConfig, 'pool'> {
  /** Messages handled at once per consumer (envelopes, queue items, results). */
  concurrency: number;
  /**
   * How long new mail's envelopes are gathered after the first one arrives before they are
   * started together, and the senders' result hand-offs half as long (0: each at once).
   */
  gatherMs: number;
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
  /** Real ms between the reputation guard's rounds (DNS checks run when due, see docs/reputation.md). */
  reputationTickMs: number;
  /** DNS servers for blocklist and reverse DNS checks; empty: dnsServers, then the system's. */
  reputationDnsServers: string[];
  /** This relay's name in DSNs (Reporting-MTA, MAILER-DAEMON@...). */
  reportingMta: string;
  /**
   * How often (real ms) recovered throttle states are swept out of Redis and the complaint
   * guard's domains are judged again for the gauges and the pools' status.
   */
  sweepEveryMs: number;
  /** How delivery attempt lines write recipients: whole, domain only, or local part hashed. */
  logRecipients: RecipientLogMode;
  /**
   * The wire version queue items and jobs are written in (HIKYAKU_WIRE_VERSION; unset in
   * settings: the relay's).
   */
  wireVersion: WireVersion;
  /**
   * Whether `accepted` and `scheduled` notices go to live watchers on SUBJECTS.progress
   * (HIKYAKU_PROGRESS_EVENTS). Off by default: nothing of the relay reads them, and each
   * costs the scheduler an encode and nats-server a message.
   */
  progressEvents: boolean;
  /**
   * How bodies leave the bodies stream once their mail is done (HIKYAKU_BODY_REMOVAL):
   * `each`, a removal request per body; `purge`, recorded and purged together every
   * `bodyPurgeMs` (body-purge.ts). Unset in settings: `purge` at wire version 2 and later,
   * whose readers all read a body's kept copy; `each` at 1.
   */
  bodyRemoval: BodyRemoval;
  /** Real ms between purges of the bodies stream (HIKYAKU_BODY_PURGE_MS). */
  bodyPurgeMs: number;
  /**
   * A body still needed this long after it was stored is stored again past the purge point
   * instead of holding it (HIKYAKU_BODY_KEEP_MS).
   */
  bodyKeepMs: number;
}

export const BODY_REMOVALS = ['each', 'purge'] as const;
export type BodyRemoval = (typeof BODY_REMOVALS)[number];

/** The configuration as read, before what the relay decides (the wire version) is known. */
export type SchedulerSettings = Omit<SchedulerConfig, 'wireVersion' | 'bodyRemoval'> &
  Partial<Pick<SchedulerConfig, 'wireVersion' | 'bodyRemoval'>>;

/** How bodies are removed when HIKYAKU_BODY_REMOVAL does not say. */
export function bodyRemovalFor(wireVersion: WireVersion): BodyRemoval {
  return wireVersion >= 2 ? 'purge' : 'each';
}

/** The settings with the wire version (and what follows from it) decided: read once at start. */
export async function resolveSchedulerConfig(
  settings: Readonly<SchedulerSettings>,
  js: JetStreamClient,
  log?: Logger,
): Promise<Readonly<SchedulerConfig>> {
  const wireVersion = await wireVersionToWrite(settings.wireVersion, js, log);
  const bodyRemoval = settings.bodyRemoval ?? bodyRemovalFor(wireVersion);
  log?.info(
    { bodyRemoval, from: settings.bodyRemoval ? 'HIKYAKU_BODY_REMOVAL' : 'wire version' },
    'body removal',
  );
  return { ...settings, wireVersion, bodyRemoval };
}

export function readSchedulerConfig(env: Env): Readonly<SchedulerSettings> {
  const r = new EnvReader({ HIKYAKU_POOL: '*', ...env });
  const { pool: _pool, ...common } = readCommonConfig(r, { httpPort: 9102 });
  const dnsServers = readDnsServers(r);
  const reputationDnsServers = readDnsServers(r, 'HIKYAKU_REPUTATION_DNS_SERVERS');
  const reportingMta = r.string('HIKYAKU_REPORTING_MTA', hostname());
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(reportingMta)) {
    r.problem(`HIKYAKU_REPORTING_MTA: "${reportingMta}" is not a host name`);
  }
  return r.done({
    ...common,
    concurrency: r.int('HIKYAKU_SCHEDULER_CONCURRENCY', 64, { min: 1, max: 4096 }),
    gatherMs: r.int('HIKYAKU_SCHEDULER_GATHER_MS', DEFAULT_GATHER_MS, { min: 0, max: 1000 }),
    streamReplicas: r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    maxParked: r.int('HIKYAKU_SCHEDULER_MAX_PARKED', 1_000_000, { min: 1000 }),
    maxParkMs: r.int('HIKYAKU_SCHEDULER_MAX_PARK_MS', 3_600_000, { min: 10 }),
    rateSlackMs: r.int('HIKYAKU_RATE_SLACK_MS', 1000, { min: 0, max: 60_000 }),
    dnsServers,
    dnsTimeoutMs: r.int('HIKYAKU_DNS_TIMEOUT_MS', 3000, { min: 50 }),
    reportingMta,
    reputationTickMs: r.int('HIKYAKU_REPUTATION_TICK_MS', 30_000, { min: 100, max: 3_600_000 }),
    reputationDnsServers: reputationDnsServers.length > 0 ? reputationDnsServers : dnsServers,
    sweepEveryMs: r.int('HIKYAKU_SCHEDULER_SWEEP_MS', 60_000, { min: 100 }),
    logRecipients: r.oneOf('HIKYAKU_LOG_RECIPIENTS', RECIPIENT_LOG_MODES, 'full'),
    wireVersion: readWireVersion(r),
    progressEvents: r.bool('HIKYAKU_PROGRESS_EVENTS', false),
    bodyRemoval: r.string('HIKYAKU_BODY_REMOVAL')
      ? r.oneOf('HIKYAKU_BODY_REMOVAL', BODY_REMOVALS, 'each')
      : undefined,
    bodyPurgeMs: r.int('HIKYAKU_BODY_PURGE_MS', 5000, { min: 100, max: 600_000 }),
    bodyKeepMs: r.int('HIKYAKU_BODY_KEEP_MS', 10_000, { min: 1000, max: 3_600_000 }),
  });
}

/** The window of "messages per minute": a minute plus the slack (see reserve.ts). */
export function rateWindowMs(config: Pick<SchedulerConfig, 'rateSlackMs'>): number {
  return 60_000 + config.rateSlackMs;
}
