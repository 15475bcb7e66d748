/**
 * One webhook of one pool: a durable pull consumer on the pool's events, shared by the
 * pool's sender pods. Events are fetched in batches (bounded by count, bytes and wait),
 * POSTed signed, and acknowledged only once the endpoint answered 2xx. A batch that fails
 * is kept and tried again with a doubling wait, its messages kept from redelivery with
 * `working()`; an event past the webhook's maximum age is given up (`term`) and counted.
 * A pod that dies leaves its batch unacknowledged: JetStream hands it to another after the
 * ack wait, so every event reaches the endpoint at least once.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  CONSUMERS,
  codecs,
  type Logger,
  type NatsHandles,
  parseEventSubject,
  STREAMS,
  SUBJECTS,
  WEBHOOK_HEADERS,
  type WebhookBatch,
  type WebhookEvent,
  webhookEventId,
  webhookSignature,
} from '@hikyaku/core';
import {
  type CompiledWebhook,
  cutBatches,
  webhookBackoffMs,
  webhookEventExpired,
} from '@hikyaku/core/policy';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { WebhookMetrics } from './metrics.ts';
import { type PostResult, postBatch } from './post.ts';

const ACK_WAIT_MS = 30_000;
/** Well inside the ack wait, so a batch being retried is never handed to another pod. */
const HEARTBEAT_MS = 10_000;
/** A consumer no pod has pulled from for this long is removed; the events are gone by then. */
const INACTIVE_MS = 7 * 24 * 3600_000;
/** Bytes of a batch's envelope around its events, counted against maxBatchBytes. */
const BATCH_OVERHEAD = 256;
const BACKLOG_REFRESH_MS = 5000;

const nanos = (ms: number): number => ms * 1_000_000;

export interface WebhookWorkerDeps {
  nats: NatsHandles;
  pool: string;
  webhook: CompiledWebhook;
  log: Logger;
  metrics: WebhookMetrics;
  /** Node's default CAs plus HIKYAKU_WEBHOOK_CA_FILE's, when that is set. */
  ca?: string[];
  timeoutMs: number;
  maxBackoffMs: number;
  now?: () => number;
}

export interface WebhookWorker {
  stop(): Promise<void>;
}

/**
 * Makes the webhook's durable consumer, or moves one made by an earlier version to the
 * filter of both event forms, starting from its first unacknowledged event.
 */
export async function ensureWebhookConsumer(
  deps: Pick<WebhookWorkerDeps, 'nats' | 'pool' | 'log'> & {
    webhook: Pick<CompiledWebhook, 'maxBatchEvents'>;
  },
  durable: string,
): Promise<void> {
  const { jsm } = deps.nats;
  const maxAckPending = Math.max(1000, deps.webhook.maxBatchEvents * 4);
  // Both forms of a pool's events (the keyed one and the one before it, which schedulers
  // not yet upgraded still write); queue actions are told apart by parseEventSubject.
  const filter = SUBJECTS.allEventsOfPool(deps.pool);
  let startSeq: number | undefined;
  try {
    const info = await jsm.consumers.info(STREAMS.events, durable);
    if (info.config.filter_subject === filter) return;
    // Made by a version that read the first form only. nats-server 2.9 cannot change a
    // consumer's filter: the consumer is made again from its first unacknowledged event.
    startSeq = info.ack_floor.stream_seq + 1;
    await jsm.consumers.delete(STREAMS.events, durable).catch((err: unknown) => {
      if (!/not found/i.test(String((err as Error).message))) throw err;
    });
    deps.log.info({ durable, filter, startSeq }, 'webhook consumer moved to the keyed events');
  } catch (err) {
    if (!/not found/i.test(String((err as Error).message))) throw err;
  }
  try {
    await jsm.consumers.add(STREAMS.events, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ACK_WAIT_MS),
      max_ack_pending: maxAckPending,
      max_deliver: -1,
      // A new webhook starts with the events that follow it, not the stream's last 7 days.
      ...(startSeq === undefined
        ? { deliver_policy: DeliverPolicy.New }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }),
      filter_subject: filter,
      inactive_threshold: nanos(INACTIVE_MS),
    });
  } catch (err) {
    // Another sender pod of the pool created it first.
    if (!/already in use|exists/i.test(String((err as Error).message))) throw err;
  }
}

function storedAt(msg: JsMsg): number {
  return Number(msg.timestampNanos / 1_000_000n);
}

export async function startWebhookWorker(deps: WebhookWorkerDeps): Promise<WebhookWorker> {
  const { webhook, log, metrics } = deps;
  const now = deps.now ?? Date.now;
  const labels = { pool: deps.pool, webhook: webhook.name };
  const durable = CONSUMERS.webhook(deps.pool, webhook.name);
  const types = new Set<string>(webhook.events);
  await ensureWebhookConsumer(deps, durable);
  let consumer = await deps.nats.js.consumers.get(STREAMS.events, durable);
  let stopping = false;
  let fetching: ConsumerMessages | undefined;
  let wake: (() => void) | undefined;
  let backlogAt = 0;
  metrics.oldestAge.set(labels, 0);

  async function refreshBacklog(): Promise<void> {
    if (now() - backlogAt < BACKLOG_REFRESH_MS) return;
    backlogAt = now();
    try {
      const info = await consumer.info();
      metrics.backlog.set(labels, info.num_pending + info.num_ack_pending);
    } catch (err) {
      log.debug({ err, webhook: webhook.name }, 'webhook backlog not read');
    }
  }

  /** Waits `ms`, keeping the batch's messages from redelivery; ends early on stop. */
  async function hold(ms: number, batch: readonly JsMsg[]): Promise<void> {
    const until = now() + ms;
    while (!stopping && now() < until) {
      for (const m of batch) m.working();
      // New events wait in JetStream meanwhile: the backlog gauge shows them growing.
      await refreshBacklog();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(HEARTBEAT_MS, until - now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  async function readSecret(): Promise<string | Error> {
    try {
      const secret = (await readFile(webhook.secretFile, 'utf8')).replace(/\r?\n$/, '');
      return secret === '' ? new Error(`the secret in ${webhook.secretFile} is empty`) : secret;
    } catch (err) {
      return new Error(`cannot read the secret ${webhook.secretFile}: ${(err as Error).message}`);
    }
  }

  async function attempt(batchId: string, events: WebhookEvent[]): Promise<PostResult> {
    const secret = await readSecret();
    if (secret instanceof Error) return { ok: false, reason: 'secret', detail: secret.message };
    const batch: WebhookBatch = {
      v: 1,
      batch: batchId,
      pool: deps.pool,
      webhook: webhook.name,
      events,
    };
    const body = JSON.stringify(batch);
    const timestamp = Math.floor(now() / 1000);
    return postBatch({
      url: webhook.url,
      body,
      headers: {
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.signature]: webhookSignature(secret, timestamp, body),
        [WEBHOOK_HEADERS.batch]: batchId,
        [WEBHOOK_HEADERS.webhook]: webhook.name,
      },
      ...(deps.ca ? { ca: deps.ca } : {}),
      timeoutMs: deps.timeoutMs,
    });
  }

  /** Delivers one batch: taken, given up as too old, or handed back at stop. */
  async function deliver(messages: readonly { msg: JsMsg; event: WebhookEvent }[]) {
    const batchId = randomUUID();
    let live = messages;
    for (let failures = 0; ; ) {
      const at = now();
      const old = live.filter((m) => webhookEventExpired(storedAt(m.msg), at, webhook.maxAgeMs));
      if (old.length > 0) {
        for (const m of old) m.msg.term(`older than the webhook's maximum age`);
        metrics.dropped.inc(labels, old.length);
        log.warn(
          { webhook: webhook.name, events: old.length, batch: batchId },
          'webhook events given up after their maximum age',
        );
        live = live.filter((m) => !old.includes(m));
      }
      const first = live[0];
      if (!first) break;
      metrics.oldestAge.set(labels, (at - storedAt(first.msg)) / 1000);
      for (const m of live) m.msg.working();
      const result = await attempt(
        batchId,
        live.map((m) => m.event),
      );
      if (result.ok) {
        for (const m of live) m.msg.ack();
        metrics.batches.inc(labels);
        metrics.events.inc(labels, live.length);
        log.debug(
          { webhook: webhook.name, events: live.length, batch: batchId },
          'webhook batch taken',
        );
        break;
      }
      failures++;
      metrics.failures.inc({ ...labels, reason: result.reason });
      const waitMs = webhookBackoffMs(failures, { firstMs: 1000, maxMs: deps.maxBackoffMs });
      log.warn(
        {
          webhook: webhook.name,
          url: webhook.url,
          reason: result.reason,
          detail: result.detail,
          events: live.length,
          tries: failures,
          retryInMs: waitMs,
        },
        'webhook batch not taken; retrying',
      );
      await hold(
        waitMs,
        live.map((m) => m.msg),
      );
      if (stopping) {
        // Handed back now rather than after the ack wait: another pod takes it at once.
        for (const m of live) m.msg.nak();
        break;
      }
    }
    metrics.oldestAge.set(labels, 0);
  }

  async function handle(msgs: JsMsg[]): Promise<void> {
    const wanted: { msg: JsMsg; event: WebhookEvent }[] = [];
    for (const msg of msgs) {
      const named = parseEventSubject(msg.subject);
      if (named?.kind !== 'delivery' || !types.has(named.type)) {
        msg.ack();
        continue;
      }
      try {
        const event = codecs.event.decode(msg.data);
        wanted.push({ msg, event: { eventId: webhookEventId(msg.data), ...event } });
      } catch (err) {
        log.error({ err, subject: msg.subject, seq: msg.seq }, 'unreadable event not sent');
        msg.term('unreadable event');
      }
    }
    const ranges = cutBatches(
      wanted.map((w) => w.msg.data.length),
      {
        maxEvents: webhook.maxBatchEvents,
        maxBytes: webhook.maxBatchBytes,
        overhead: BATCH_OVERHEAD,
      },
    );
    for (const [start, end] of ranges) {
      if (stopping) {
        for (const w of wanted.slice(start)) w.msg.nak();
        return;
      }
      await deliver(wanted.slice(start, end));
    }
  }

  const loop = (async () => {
    while (!stopping) {
      const msgs: JsMsg[] = [];
      try {
        fetching = await consumer.fetch({
          max_messages: webhook.maxBatchEvents,
          expires: webhook.maxBatchWaitMs,
        });
        for await (const m of fetching) msgs.push(m);
      } catch (err) {
        if (stopping) break;
        log.warn({ err, webhook: webhook.name }, 'webhook fetch interrupted; resuming');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        // Removed behind its back (by hand, or idle past its threshold): made again.
        if (/not found/i.test(String((err as Error).message))) {
          await ensureWebhookConsumer(deps, durable)
            .then(async () => {
              consumer = await deps.nats.js.consumers.get(STREAMS.events, durable);
            })
            .catch((e: unknown) => log.warn({ err: e }, 'webhook consumer not made again yet'));
        }
      }
      await refreshBacklog();
      if (stopping) {
        for (const m of msgs) m.nak();
        break;
      }
      if (msgs.length > 0) await handle(msgs);
    }
  })();
  log.info({ webhook: webhook.name, url: webhook.url, events: webhook.events }, 'webhook started');

  return {
    async stop() {
      stopping = true;
      wake?.();
      await fetching?.close();
      await loop.catch((err: unknown) => log.error({ err }, 'webhook loop failed'));
      metrics.oldestAge.remove(labels);
      metrics.backlog.remove(labels);
    },
  };
}
