/**
 * Reading a message's timeline back from the events stream. A stored event's subject holds
 * its queue id and the digests of its recipient and Message-ID, so a lookup is one subject
 * filter: JetStream lists the matching subjects from its subject index, then each is read by
 * direct get. A lookup costs the entries it returns and a walk of the subject index, never a
 * read of the stream's messages.
 *
 * Acceptance and planning are not stored events: they are read from the outcome events
 * that carry them (see timelineOf). Traces written by versions that kept a second copy in
 * HIKYAKU_TRACE are read from there too until they age out.
 */

import {
  codecs,
  type DeliveryEvent,
  isQueueId,
  STREAMS,
  SUBJECTS,
  traceDigest,
} from '@hikyaku/core';
import type { JetStreamManager } from '@nats-io/jetstream';

/** Where a lookup reads: the events stream, and the earlier copies if any are left. */
interface Streams {
  jsm: JetStreamManager;
  earlier: boolean;
}

/** Whether HIKYAKU_TRACE holds entries of earlier versions (it empties as they age out). */
async function hasEarlierTraces(jsm: JetStreamManager): Promise<boolean> {
  try {
    return (await jsm.streams.info(STREAMS.trace)).state.messages > 0;
  } catch (err) {
    if (/not found/i.test(String((err as Error).message))) return false;
    throw err;
  }
}

/** Reads every entry of the subjects matching `filter`, each subject in order. */
async function readMatching(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): Promise<{ subject: string; data: Uint8Array }[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  const out: { subject: string; data: Uint8Array }[] = [];
  for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
    let seq = 0;
    for (let read = 0; read < count; read++) {
      const m = await jsm.direct.getMessage(stream, { seq: seq + 1, next_by_subj: subject });
      if (!m) break;
      out.push({ subject, data: m.data });
      seq = m.seq;
    }
  }
  return out;
}

/** The entries of an earlier version's trace subject; none once they are gone. */
async function readEarlier(at: Streams, subject: string): Promise<Uint8Array[]> {
  if (!at.earlier) return [];
  return (await readMatching(at.jsm, STREAMS.trace, subject)).map((m) => m.data);
}

export interface TracedMessage {
  id: string;
  events: DeliveryEvent[];
}

/** How the key was matched, for the reader: the same message may match more than one way. */
export type TraceMatch = 'queue id' | 'Message-ID' | 'recipient';

export interface TraceResult {
  matchedBy: TraceMatch[];
  messages: TracedMessage[];
}

/**
 * A message's timeline from its stored events: each recipient's acceptance (dated by the
 * first event's `delayMs`) and each attempt's planning (`plannedAt`) are put back as the
 * `accepted` and `scheduled` events earlier versions stored, unless such an event is
 * already there (a trace of those versions). Sorted by time.
 */
export function timelineOf(stored: readonly DeliveryEvent[]): DeliveryEvent[] {
  const events = [...stored];
  const has = new Set(stored.map((e) => `${e.type}|${e.rcpt}|${e.attempt ?? ''}`));
  const accepted = new Set(stored.filter((e) => e.type === 'accepted').map((e) => e.rcpt));
  const byTime = [...stored].sort((a, b) => a.at - b.at);
  for (const e of byTime) {
    if (!accepted.has(e.rcpt) && e.delayMs !== undefined && e.type !== 'accepted') {
      accepted.add(e.rcpt);
      events.push({
        v: 1,
        type: 'accepted',
        id: e.id,
        pool: e.pool,
        rcpt: e.rcpt,
        at: e.at - e.delayMs,
        ...(e.messageId ? { messageId: e.messageId } : {}),
      });
    }
    const planned = `scheduled|${e.rcpt}|${e.attempt ?? ''}`;
    if (e.plannedAt !== undefined && !has.has(planned)) {
      has.add(planned);
      events.push({
        v: 1,
        type: 'scheduled',
        id: e.id,
        pool: e.pool,
        rcpt: e.rcpt,
        at: e.plannedAt,
        ...(e.ip ? { ip: e.ip } : {}),
        ...(e.attempt !== undefined ? { attempt: e.attempt } : {}),
        ...(e.messageId ? { messageId: e.messageId } : {}),
        ...(e.domain ? { domain: e.domain } : {}),
      });
    }
  }
  // At equal times acceptance comes first, then planning (a coarse clock can tie them),
  // then recipients in order: subjects are listed in no particular order.
  const order = (e: DeliveryEvent) => (e.type === 'accepted' ? 0 : e.type === 'scheduled' ? 1 : 2);
  return events.sort(
    (a, b) =>
      a.at - b.at || order(a) - order(b) || (a.rcpt < b.rcpt ? -1 : a.rcpt > b.rcpt ? 1 : 0),
  );
}

/** The stored events of one message, from both streams. */
async function eventsOf(at: Streams, id: string): Promise<DeliveryEvent[]> {
  const events = await readMatching(at.jsm, STREAMS.events, SUBJECTS.eventsOfQueueId(id));
  const earlier = await readEarlier(at, SUBJECTS.traceMessage(id));
  return [...events.map((m) => m.data), ...earlier].map((d) => codecs.event.decode(d));
}

/** The events filed under a digest, and the queue ids of earlier index entries there. */
async function filed(
  at: Streams,
  kind: 'mid' | 'rcpt',
  digest: string,
): Promise<{ events: DeliveryEvent[]; earlierIds: string[] }> {
  const filter =
    kind === 'mid' ? SUBJECTS.eventsOfMessageId(digest) : SUBJECTS.eventsOfRecipient(digest);
  const events = await readMatching(at.jsm, STREAMS.events, filter);
  const earlier = await readEarlier(at, SUBJECTS.traceIndex(kind, digest));
  return {
    events: events.map((m) => codecs.event.decode(m.data)),
    earlierIds: earlier.map((d) => codecs.traceIndex.decode(d).id),
  };
}

export async function findTrace(jsm: JetStreamManager, key: string): Promise<TraceResult> {
  const at: Streams = { jsm, earlier: await hasEarlierTraces(jsm) };
  const matchedBy: TraceMatch[] = [];
  // A message's events when they are in hand: all of them, or (found by recipient) that
  // recipient's, which is all a recipient's trace shows. Undefined: read them.
  const found = new Map<string, DeliveryEvent[] | undefined>();
  if (isQueueId(key)) {
    const events = await eventsOf(at, key);
    if (events.length > 0) {
      matchedBy.push('queue id');
      found.set(key, events);
    }
  }
  const indexes: [TraceMatch, 'mid' | 'rcpt'][] = [['Message-ID', 'mid']];
  if (key.includes('@')) indexes.push(['recipient', 'rcpt']);
  for (const [match, kind] of indexes) {
    const { events, earlierIds } = await filed(at, kind, traceDigest(kind, key));
    if (events.length > 0 || earlierIds.length > 0) matchedBy.push(match);
    for (const id of earlierIds) if (!found.has(id)) found.set(id, undefined);
    const byId = Map.groupBy(events, (e) => e.id);
    for (const [id, own] of byId) {
      if (found.has(id)) continue;
      // Earlier copies of the same message would be missed: then all is read.
      found.set(id, kind === 'rcpt' && !at.earlier ? own : undefined);
    }
  }
  const messages: TracedMessage[] = [];
  for (const [id, events] of found) {
    messages.push({ id, events: timelineOf(events ?? (await eventsOf(at, id))) });
  }
  messages.sort((a, b) => (a.events[0]?.at ?? 0) - (b.events[0]?.at ?? 0));
  return { matchedBy, messages };
}
