/**
 * Reading a message's timeline back from the trace stream: by queue id directly, by
 * Message-ID or recipient through their index entries. Every read names one subject, which
 * JetStream finds through its subject index: a lookup costs the entries it returns, not
 * the size of the stream.
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

/** Reads the entries of one subject in order, each found by the stream's subject index. */
async function readSubject(jsm: JetStreamManager, subject: string): Promise<Uint8Array[]> {
  const info = await jsm.streams.info(STREAMS.trace, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  const out: Uint8Array[] = [];
  let seq = 0;
  while (out.length < count) {
    const m = await jsm.direct.getMessage(STREAMS.trace, { seq: seq + 1, next_by_subj: subject });
    if (!m) break;
    out.push(m.data);
    seq = m.seq;
  }
  return out;
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

export async function findTrace(jsm: JetStreamManager, key: string): Promise<TraceResult> {
  const ids = new Set<string>();
  const matchedBy: TraceMatch[] = [];
  const events = new Map<string, DeliveryEvent[]>();
  if (isQueueId(key)) {
    const found = (await readSubject(jsm, SUBJECTS.traceMessage(key))).map((d) =>
      codecs.event.decode(d),
    );
    if (found.length > 0) {
      ids.add(key);
      events.set(key, found);
      matchedBy.push('queue id');
    }
  }
  const indexes: [TraceMatch, 'mid' | 'rcpt'][] = [['Message-ID', 'mid']];
  if (key.includes('@')) indexes.push(['recipient', 'rcpt']);
  for (const [match, kind] of indexes) {
    const entries = await readSubject(jsm, SUBJECTS.traceIndex(kind, traceDigest(kind, key)));
    if (entries.length > 0) matchedBy.push(match);
    for (const data of entries) ids.add(codecs.traceIndex.decode(data).id);
  }
  const messages: TracedMessage[] = [];
  for (const id of ids) {
    const list =
      events.get(id) ??
      (await readSubject(jsm, SUBJECTS.traceMessage(id))).map((d) => codecs.event.decode(d));
    list.sort((a, b) => a.at - b.at);
    messages.push({ id, events: list });
  }
  messages.sort((a, b) => (a.events[0]?.at ?? 0) - (b.events[0]?.at ?? 0));
  return { matchedBy, messages };
}
