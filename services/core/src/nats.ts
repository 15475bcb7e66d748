/**
 * Connection to NATS and the JetStream layout (streams, buckets) every service relies on.
 * Streams are declared here once; each service ensures them at start so any start order
 * works. Only features of nats-server 2.9 are used.
 */

import { isDeepStrictEqual } from 'node:util';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { STREAMS, SUBJECTS } from './contract/subjects.ts';
import { StreamSetupError } from './errors.ts';
import {
  describeJetStreamError,
  isNotFoundError,
  isPassingJetStreamError,
  isPlacementError,
  JETSTREAM_READY_TIMEOUT_MS,
} from './jetstream-ready.ts';
import type { Logger } from './log.ts';
import { quietAnsweredRequests } from './nats-request.ts';
import { oneShapeRequestOptions } from './nats-request-options.ts';
import { writeOncePerTurn } from './nats-turn-writes.ts';
import { RELAY_KV_STREAM, recordRelayWireVersion } from './relay-wire-version.ts';

export interface JetStreamLayout {
  /** Stream replicas: 3 in production clusters, 1 locally. */
  replicas: number;
  /** How long bodies and events are kept at most (longer than any pool's maximum age). */
  bodyMaxAgeMs: number;
  eventMaxAgeMs: number;
}

export const DEFAULT_LAYOUT: JetStreamLayout = {
  replicas: 1,
  bodyMaxAgeMs: 8 * 24 * 3600_000,
  eventMaxAgeMs: 7 * 24 * 3600_000,
};

/** Entries kept per trace subject: a message's events, or the messages of one recipient. */
export const TRACE_MAX_PER_SUBJECT = 10_000;

export type NamedStreamConfig = Partial<StreamConfig> & { name: string };

export function streamConfigs(layout: JetStreamLayout): NamedStreamConfig[] {
  const common = {
    storage: StorageType.File,
    num_replicas: layout.replicas,
    duplicate_window: nanos(120_000),
  };
  return [
    {
      ...common,
      name: STREAMS.envelopes,
      subjects: [SUBJECTS.envelopeAll],
      retention: RetentionPolicy.Workqueue,
    },
    {
      ...common,
      name: STREAMS.bodies,
      subjects: [SUBJECTS.bodyAll],
      retention: RetentionPolicy.Limits,
      max_age: nanos(layout.bodyMaxAgeMs),
      max_msgs_per_subject: 1,
      allow_direct: true,
    },
    {
      ...common,
      name: STREAMS.bodiesKept,
      subjects: [SUBJECTS.keptBodyAll],
      retention: RetentionPolicy.Limits,
      max_age: nanos(layout.bodyMaxAgeMs),
      max_msgs_per_subject: 1,
      allow_direct: true,
    },
    {
      ...common,
      name: STREAMS.queue,
      subjects: [SUBJECTS.queueAll],
      retention: RetentionPolicy.Workqueue,
    },
    {
      ...common,
      name: STREAMS.jobs,
      subjects: [SUBJECTS.jobAll],
      retention: RetentionPolicy.Workqueue,
    },
    {
      ...common,
      name: STREAMS.results,
      subjects: [SUBJECTS.resultAll],
      retention: RetentionPolicy.Workqueue,
    },
    {
      ...common,
      name: STREAMS.events,
      subjects: [SUBJECTS.eventAll],
      retention: RetentionPolicy.Limits,
      max_age: nanos(layout.eventMaxAgeMs),
      discard: DiscardPolicy.Old,
      // `hikyaku trace` reads a message's events by subject (direct get).
      allow_direct: true,
    },
    {
      ...common,
      name: STREAMS.feedback,
      subjects: [SUBJECTS.feedbackAll],
      retention: RetentionPolicy.Workqueue,
    },
    // Where earlier versions kept a second copy of each event: still declared, so that
    // copy ages out and `hikyaku trace` reads it meanwhile; nothing writes to it now.
    {
      ...common,
      name: STREAMS.trace,
      subjects: [SUBJECTS.traceAll],
      retention: RetentionPolicy.Limits,
      max_age: nanos(layout.eventMaxAgeMs),
      // One message's timeline, or one recipient's index, keeps its newest entries.
      max_msgs_per_subject: TRACE_MAX_PER_SUBJECT,
      discard: DiscardPolicy.Old,
      allow_direct: true,
    },
  ];
}

/**
 * Records the relay's wire version if it has none (relay-wire-version.ts), then creates the
 * streams, or updates those whose configuration changed; one log line per stream created or
 * updated. A request the cluster leaves unanswered or answers with
 * "temporarily unavailable" (a stream or metadata leader being elected) or "no suitable
 * peers for placement" (fewer servers have joined than the replicas need) is sent again
 * until `timeoutMs`; anything else JetStream refuses is a StreamSetupError naming the
 * stream and the server's reason.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  layout: JetStreamLayout = DEFAULT_LAYOUT,
  options: { log?: Logger; timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? JETSTREAM_READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const step = (name: string, run: () => Promise<string>) =>
    setUpWithRetries(name, run, { layout, deadline, timeoutMs, ...options });
  // Before any stream: a stream without the record can then only be an earlier release's.
  await step(RELAY_KV_STREAM, async () => {
    const { version, recorded } = await recordRelayWireVersion(jsm.jetstream(), layout.replicas);
    if (recorded) options.log?.info({ wireVersion: version }, 'relay wire version recorded');
    return 'unchanged';
  });
  for (const config of streamConfigs(layout)) {
    await step(config.name, () => createOrUpdateStream(jsm, config));
  }
}

/**
 * Runs one set-up step, again while the cluster leaves it unanswered or cannot place its
 * replicas yet, until the deadline; logs a step that created or updated something.
 */
async function setUpWithRetries(
  name: string,
  run: () => Promise<string>,
  options: { layout: JetStreamLayout; deadline: number; timeoutMs: number; log?: Logger },
): Promise<void> {
  const { layout, deadline, timeoutMs } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      const step = await run();
      if (step !== 'unchanged') {
        options.log?.info({ stream: name, replicas: layout.replicas }, `stream ${step}`);
      }
      return;
    } catch (err) {
      const reason = describeJetStreamError(err);
      const placement = isPlacementError(err);
      if (!placement && !isPassingJetStreamError(err)) {
        throw new StreamSetupError(name, `${reason}; asked for ${layout.replicas} replicas`, {
          cause: err,
        });
      }
      if (Date.now() > deadline) {
        const why = placement
          ? `JetStream could not place ${layout.replicas} replicas within ${timeoutMs} ms (fewer servers in the cluster than the stream replicas?): ${reason}`
          : `JetStream did not answer: ${reason}`;
        throw new StreamSetupError(name, why, { cause: err });
      }
      options.log?.warn(
        { stream: name, attempt, reason, replicas: layout.replicas },
        placement
          ? 'stream set-up waits for more JetStream servers to join the cluster; retrying'
          : 'stream set-up not answered (a cluster electing a leader); retrying',
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function createOrUpdateStream(
  jsm: JetStreamManager,
  config: NamedStreamConfig,
): Promise<'created' | 'updated' | 'unchanged'> {
  let current: StreamConfig | undefined;
  try {
    current = (await jsm.streams.info(config.name)).config;
  } catch (err) {
    if (!isNotFoundError(err)) throw err;
  }
  if (!current) {
    try {
      await jsm.streams.add(config);
      return 'created';
    } catch (err) {
      // Another service created it between our info and add, or an add of ours that timed
      // out was carried out after all.
      if (!/already in use|exists/i.test(String(err))) throw err;
      current = (await jsm.streams.info(config.name)).config;
    }
  }
  // An update at three replicas is a round of the cluster's consensus: skip it when
  // nothing this layout sets differs.
  const stored = current as unknown as Record<string, unknown>;
  const changed = Object.entries(config).some(([key, value]) => {
    return !isDeepStrictEqual(stored[key], value);
  });
  if (!changed) return 'unchanged';
  await jsm.streams.update(config.name, config);
  return 'updated';
}

/**
 * Creates a durable pull consumer if missing; an existing one is left as it is. A new one
 * delivers from the stream's first message, whatever was stored before it existed.
 * `headersOnly`: messages come without their payload (its size in `Nats-Msg-Size`).
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  options: {
    filterSubject?: string;
    ackWaitMs: number;
    maxAckPending: number;
    headersOnly?: boolean;
  },
): Promise<void> {
  try {
    await jsm.consumers.info(stream, durable);
    await jsm.consumers.update(stream, durable, {
      ack_wait: nanos(options.ackWaitMs),
      max_ack_pending: options.maxAckPending,
    });
  } catch (err) {
    if (!isNotFoundError(err)) throw err;
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(options.ackWaitMs),
      max_ack_pending: options.maxAckPending,
      max_deliver: -1,
      deliver_policy: DeliverPolicy.All,
      ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
      ...(options.headersOnly ? { headers_only: true } : {}),
    });
  }
}

export interface NatsHandles {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** Credentials for a NATS server that requires them: a token, or a user and password. */
export interface NatsCredentials {
  token?: string;
  user?: string;
  pass?: string;
}

export async function connectNats(options: {
  url: string;
  name: string;
  credentials?: NatsCredentials;
  /** Keep trying to reconnect forever: NATS outages are survived, not fatal. */
  maxReconnectAttempts?: number;
}): Promise<NatsHandles> {
  quietAnsweredRequests();
  oneShapeRequestOptions();
  writeOncePerTurn();
  const nc = await connect({
    servers: options.url.split(','),
    name: options.name,
    ...(options.credentials?.token ? { token: options.credentials.token } : {}),
    ...(options.credentials?.user
      ? { user: options.credentials.user, pass: options.credentials.pass ?? '' }
      : {}),
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    // Capturing a stack trace for every request (every JetStream publish) costs more CPU
    // than the rest of the publish; errors still carry their own stack.
    noAsyncTraces: true,
  });
  // JetStream is not asked at connect time: a just-formed cluster leaves its first requests
  // unanswered, and waitForJetStream waits for it with a log line per attempt.
  const jsm = await jetstreamManager(nc, { timeout: 10_000, checkAPI: false });
  const js = jetstream(nc, { timeout: 10_000 });
  return { nc, js, jsm };
}
