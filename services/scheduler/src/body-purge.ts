/**
 * Bodies removed in purges instead of one by one (HIKYAKU_BODY_REMOVAL=purge). nats-server
 * removes a single message by reading it back out of its block first, which costs about
 * what storing it did; a purge by sequence (everything below it) drops whole blocks
 * (docs/performance.md, "Bodies removed by purges").
 *
 * The end of a message records its body's sequence as ended (Redis) instead of asking for
 * its removal. One scheduler at a time (a Redis lease) walks the bodies stream from its
 * first sequence, passes sequences that ended or are gone, and purges below where it
 * stopped. A body still needed stops the walk, so one needed for long (mail on retry) would
 * hold back every later one: once it has been in the stream `keepMs`, it is copied to the
 * kept-bodies stream, where the body store reads it when the bodies stream has it no more,
 * and the walk passes it. Kept copies are removed one by one when their mail ends: few
 * bodies are needed that long. A body whose envelope (stored in its message) has not been
 * read yet is never copied: the walk stops there.
 *
 * Only sequences that ended, are gone or were copied are passed, so a scheduler that still
 * removes bodies one by one may run beside this one. Every reader of bodies must know the
 * kept-bodies stream (this release's body store does) before purges start.
 */
import {
  type BodyStore,
  CONSUMERS,
  ENVELOPE_HEADER,
  type Logger,
  REDIS_KEYS,
  redisScript,
  STREAMS,
  SUBJECTS,
} from '@hikyaku/core';
import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { RedisBatch } from './redis-batch.ts';

const KEYS = [REDIS_KEYS.bodiesEnded, REDIS_KEYS.bodiesCopied] as const;

/** ARGV: message id, sequence. 1 while its message needs the body there and has no copy. */
const NEEDED = redisScript(`
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
return 1
`);

/**
 * ARGV: message id, sequence, sequence of its kept copy. Records the copy and returns 1;
 * returns 0 when the body ended (or was copied) since NEEDED: the new copy is not needed.
 */
const KEPT = redisScript(`
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then return 0 end
return 1
`);

/** ARGV: this instance, lease ms. 1 when this instance holds the lease (taken or renewed). */
const LEASE = redisScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

export interface BodyEnds {
  /**
   * Records that a message no longer needs its body (stored at `seq`); the sequence of its
   * kept copy, which the caller removes, or 0.
   */
  end(messageId: string, seq: number): Promise<number>;
  /** Whether the body stored at `seq` is still needed there (not ended, not copied). */
  needed(messageId: string, seq: number): Promise<boolean>;
  /** Records a kept copy of the body at `seq`; false when it is not needed after all. */
  kept(messageId: string, seq: number, keptSeq: number): Promise<boolean>;
  /** Ended sequences from `from` on, ascending, at most `limit`. */
  endedFrom(from: number, limit: number): Promise<number[]>;
  /** Forgets ended sequences below `point` (purged). */
  forgetBelow(point: number): Promise<void>;
}

/**
 * Adds a body's end to a stage's batch (after the message's last group ends, when the
 * batch has one): its run's `keptCopy` is then the copy to remove.
 */
export function endBodyIn(batch: RedisBatch, messageId: string, seq: number): RedisBatch {
  return batch.endBody(REDIS_KEYS.bodiesEnded, REDIS_KEYS.bodiesCopied, seq, messageId);
}

export function createBodyEnds(redis: Redis): BodyEnds {
  return {
    async end(messageId, seq) {
      return (await endBodyIn(new RedisBatch(), messageId, seq).runCounted(redis)).keptCopy;
    },
    async needed(messageId, seq) {
      return Number(await NEEDED.run(redis, KEYS, [messageId, seq])) === 1;
    },
    async kept(messageId, seq, keptSeq) {
      return Number(await KEPT.run(redis, KEYS, [messageId, seq, keptSeq])) === 1;
    },
    async endedFrom(from, limit) {
      const members = await redis.zrangebyscore(KEYS[0], from, '+inf', 'LIMIT', 0, limit);
      return members.map(Number);
    },
    async forgetBelow(point) {
      await redis.zremrangebyscore(KEYS[0], '-inf', `(${point}`);
    },
  };
}

/** Removes a kept copy by its sequence (a request, answered: the rare path); 0, none. */
export async function removeKeptCopy(jsm: JetStreamManager, seq: number): Promise<void> {
  if (seq > 0) await jsm.streams.deleteMessage(STREAMS.bodiesKept, seq, false);
}

/**
 * The body store as the scheduler uses it when bodies are purged: a stream body with a
 * sequence is ended (for the purger) instead of removed, its kept copy removed if it has
 * one; every other body as before.
 */
export function withEndedBodies(
  bodies: BodyStore,
  ends: BodyEnds,
  jsm: JetStreamManager,
): BodyStore {
  return {
    ...bodies,
    async remove(messageId, ref) {
      if (ref.store !== 'stream' || ref.seq === undefined) return bodies.remove(messageId, ref);
      await removeKeptCopy(jsm, await ends.end(messageId, ref.seq));
    },
  };
}

/** A body as the walk reads it from the bodies stream. */
export interface StoredBody {
  seq: number;
  messageId: string;
  /** When it was stored, in ms. */
  storedAt: number;
  /** Whether it carries its envelope (Hikyaku-Envelope): unread, it holds the walk. */
  withEnvelope: boolean;
}

export interface WalkInput {
  firstSeq: number;
  lastSeq: number;
  /** Ended sequences from firstSeq on, ascending (BodyEnds.endedFrom). */
  ended: readonly number[];
  /** Envelopes in bodies are read up to this sequence (the envelope consumer's ack floor). */
  envelopesReadTo: number;
  now: number;
  /** A body needed longer than this is copied out instead of holding the walk. */
  keepMs: number;
  /** Sequences read one by one at most (those not among `ended`), per walk. */
  maxReads: number;
  /** The body at a sequence; undefined when it is gone. */
  read(seq: number): Promise<StoredBody | undefined>;
  needed(body: StoredBody): Promise<boolean>;
}

export interface WalkPlan {
  /** Every sequence below it ended, is gone, or is among `copies`. */
  point: number;
  /** Bodies to copy out before the purge, in order. */
  copies: StoredBody[];
}

/**
 * Where a purge may end: the walk passes ended and missing sequences, and bodies to copy
 * out, and stops at the first body still needed for now (or unread, or after `maxReads`).
 */
export async function planPurge(input: WalkInput): Promise<WalkPlan> {
  const copies: StoredBody[] = [];
  let reads = 0;
  let next = 0;
  let seq = input.firstSeq;
  for (; seq <= input.lastSeq; seq++) {
    while (next < input.ended.length && (input.ended[next] ?? 0) < seq) next++;
    if (input.ended[next] === seq) continue;
    if (reads++ >= input.maxReads) break;
    const body = await input.read(seq);
    if (!body || !(await input.needed(body))) continue;
    if (body.withEnvelope && seq > input.envelopesReadTo) break;
    if (input.now - body.storedAt < input.keepMs) break;
    copies.push(body);
  }
  return { point: seq, copies };
}

const BODY_PREFIX = SUBJECTS.body('');

function storedBody(msg: StoredMsg): StoredBody | undefined {
  if (!msg.subject.startsWith(BODY_PREFIX)) return undefined;
  return {
    seq: msg.seq,
    messageId: msg.subject.slice(BODY_PREFIX.length),
    storedAt: msg.time.getTime(),
    withEnvelope: msg.header?.has(ENVELOPE_HEADER) === true,
  };
}

/** What the purger counts (metrics.ts). */
export interface BodyPurgeCounters {
  bodyPurges: { inc(labels: { result: 'purged' | 'nothing' | 'failed' }): void };
  bodiesPurged: { inc(value: number): void };
  bodiesKept: { inc(): void };
}

export interface BodyPurger {
  /** One walk and purge now, if this scheduler holds the lease: the sequence purged below. */
  runOnce(): Promise<number | undefined>;
  stop(): Promise<void>;
}

export function startBodyPurger(deps: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  redis: Redis;
  ends: BodyEnds;
  log: Logger;
  /** This scheduler, as the lease names it. */
  instance: string;
  intervalMs: number;
  keepMs: number;
  now?: () => number;
  /** False: only runOnce walks (tests). */
  timer?: boolean;
  metrics?: BodyPurgeCounters;
}): BodyPurger {
  const { js, jsm, redis, ends, log } = deps;
  const now = deps.now ?? Date.now;
  const leaseMs = deps.intervalMs * 3;
  let running: Promise<number | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function envelopesReadTo(): Promise<number> {
    try {
      const info = await jsm.consumers.info(STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes);
      return info.ack_floor.stream_seq;
    } catch {
      // No consumer (yet): no envelope in a body counts as read, so none is passed.
      return 0;
    }
  }

  /** Copies a body out; false when that failed (the purge then stops short of it). */
  async function keep(body: StoredBody, msg: StoredMsg): Promise<boolean> {
    try {
      const ack = await js.publish(SUBJECTS.keptBody(body.messageId), msg.data);
      if (await ends.kept(body.messageId, body.seq, ack.seq)) {
        deps.metrics?.bodiesKept.inc();
      } else {
        await removeKeptCopy(jsm, ack.seq);
      }
      return true;
    } catch (err) {
      log.warn({ err, seq: body.seq, id: body.messageId }, 'could not copy a body out');
      return false;
    }
  }

  async function walkAndPurge(): Promise<number | undefined> {
    const held = await LEASE.run(redis, [REDIS_KEYS.bodiesPurger], [deps.instance, leaseMs]);
    if (Number(held) !== 1) return undefined;
    const { state } = await jsm.streams.info(STREAMS.bodies);
    if (state.messages === 0) return undefined;
    const read = new Map<number, StoredMsg>();
    const plan = await planPurge({
      firstSeq: state.first_seq,
      lastSeq: state.last_seq,
      ended: await ends.endedFrom(state.first_seq, 100_000),
      envelopesReadTo: await envelopesReadTo(),
      now: now(),
      keepMs: deps.keepMs,
      maxReads: 1000,
      async read(seq) {
        const msg = await jsm.streams.getMessage(STREAMS.bodies, { seq });
        const body = msg ? storedBody(msg) : undefined;
        if (msg && body) read.set(seq, msg);
        return body;
      },
      needed: (body) => ends.needed(body.messageId, body.seq),
    });
    let point = plan.point;
    for (const body of plan.copies) {
      const msg = read.get(body.seq);
      if (!msg || !(await keep(body, msg))) {
        point = body.seq;
        break;
      }
    }
    if (point <= state.first_seq) {
      deps.metrics?.bodyPurges.inc({ result: 'nothing' });
      return undefined;
    }
    const { purged } = await jsm.streams.purge(STREAMS.bodies, { seq: point });
    deps.metrics?.bodyPurges.inc({ result: 'purged' });
    deps.metrics?.bodiesPurged.inc(purged);
    await ends.forgetBelow(point);
    return point;
  }

  function runOnce(): Promise<number | undefined> {
    running ??= walkAndPurge()
      .catch((err: unknown) => {
        deps.metrics?.bodyPurges.inc({ result: 'failed' });
        throw err;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  function schedule() {
    if (stopped || deps.timer === false) return;
    timer = setTimeout(() => {
      runOnce()
        .catch((err: unknown) => log.warn({ err }, 'could not purge the bodies stream'))
        .finally(schedule);
    }, deps.intervalMs);
    timer.unref();
  }
  schedule();

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
