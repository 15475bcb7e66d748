/**
 * `hikyaku trace <queue-id | Message-ID | recipient>`: a message's timeline from the trace
 * stream (accepted → planned → each attempt with its IP, next hop and reply → …).
 *
 * Exit status: 0 found, 1 nothing found or NATS failed, 2 the command line is wrong.
 */
import { parseArgs } from 'node:util';
import type { DeliveryEvent } from '@hikyaku/core';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { findTrace, type TracedMessage } from './trace-read.ts';

export const TRACE_USAGE = `usage: hikyaku trace [--nats URL | --data-dir DIR] [--json] <queue-id | Message-ID | recipient>

  prints the timeline of the messages the key names: accepted, planned, every delivery
  attempt (sending IP, next hop, reply) and the end (delivered, bounced, expired,
  suppressed). Events are kept 7 days.

  --nats URL          NATS of the relay (default: $NATS_URL, else the local mode running
                      from --data-dir, default .hikyaku)
  --json              the events, one JSON object per line
`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** The running local mode of a data folder (throws when there is none). */
  localStack?: (dataDir: string) => Promise<{ natsUrl: string; redisUrl: string }>;
}

const WORD: Record<DeliveryEvent['type'], string> = {
  accepted: 'accepted',
  scheduled: 'planned',
  delivered: 'delivered',
  deferred: 'deferred',
  bounced: 'bounced',
  expired: 'expired',
  suppressed: 'suppressed',
  complained: 'complained',
};

/** One line of a timeline: time, what happened, to whom, and where and why. */
export function timelineLine(event: DeliveryEvent): string {
  const parts = [new Date(event.at).toISOString(), WORD[event.type].padEnd(10), event.rcpt];
  if (event.type !== 'accepted' && event.type !== 'suppressed' && event.attempt !== undefined) {
    parts.push(`attempt ${event.attempt + 1}`);
  }
  if (event.ip) parts.push(`from ${event.ip}`);
  // A bounce reported by mail after the delivery was accepted, not a reply in the session.
  if (event.late) parts.push('late, reported by mail');
  const reply = event.reply;
  if (reply?.remoteHost) {
    const address = reply.remoteAddress ? `[${reply.remoteAddress}]` : '';
    parts.push(`to ${reply.remoteHost}${address}`);
  }
  if (event.tls) parts.push(event.tls);
  let line = parts.join('  ');
  // Receivers' replies carry their code; the relay's own texts do not.
  if (reply) {
    line += reply.text.startsWith(String(reply.code))
      ? `: ${reply.text}`
      : `: ${reply.code} ${reply.text}`;
  }
  return line;
}

export function formatTrace(message: TracedMessage, onlyRcpt?: string): string[] {
  const first = message.events[0];
  const messageId = message.events.find((e) => e.messageId)?.messageId;
  const head = [`queue id ${message.id}`];
  if (first) head.push(`pool ${first.pool}`);
  if (messageId) head.push(`Message-ID <${messageId}>`);
  const wanted = onlyRcpt?.toLowerCase();
  const events = wanted
    ? message.events.filter((e) => e.rcpt.toLowerCase() === wanted)
    : message.events;
  return [head.join('  '), ...events.map((e) => `  ${timelineLine(e)}`)];
}

class UsageError extends Error {}

function parse(argv: string[], io: CliIo) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      nats: { type: 'string' },
      'data-dir': { type: 'string', default: '.hikyaku' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help' as const;
  if (positionals.length !== 1) {
    throw new UsageError('name one queue id, Message-ID or recipient');
  }
  return {
    key: positionals[0] as string,
    natsUrl: values.nats ?? io.env.NATS_URL,
    dataDir: values['data-dir'] ?? '.hikyaku',
    json: values.json ?? false,
  };
}

/** Runs the command; returns the exit status. */
export async function runTraceCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv, io);
  } catch (err) {
    io.err(`hikyaku trace: ${(err as Error).message}`);
    io.err(TRACE_USAGE);
    return 2;
  }
  if (parsed === 'help') {
    io.out(TRACE_USAGE);
    return 0;
  }
  const { key, json } = parsed;
  let natsUrl = parsed.natsUrl;
  if (!natsUrl) {
    try {
      natsUrl = (await io.localStack?.(parsed.dataDir))?.natsUrl;
    } catch (err) {
      io.err(`hikyaku trace: give --nats URL or set NATS_URL; ${(err as Error).message}`);
      return 1;
    }
    if (!natsUrl) {
      io.err('hikyaku trace: give --nats URL or set NATS_URL');
      return 2;
    }
  }
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    nc = await connect({ servers: natsUrl.split(','), name: 'hikyaku-trace', timeout: 5000 });
  } catch (err) {
    io.err(
      `hikyaku trace: [HIKYAKU_NATS_UNAVAILABLE] NATS at ${natsUrl}: ${(err as Error).message}`,
    );
    return 1;
  }
  try {
    const result = await findTrace(await jetstreamManager(nc), key);
    if (result.messages.length === 0) {
      io.err(
        `hikyaku trace: nothing found for "${key}": no queue id, Message-ID or recipient of the last 7 days matches`,
      );
      return 1;
    }
    const onlyRcpt =
      result.matchedBy.length === 1 && result.matchedBy[0] === 'recipient' ? key : undefined;
    for (const message of result.messages) {
      if (json) {
        for (const event of message.events) io.out(JSON.stringify(event));
        continue;
      }
      for (const line of formatTrace(message, onlyRcpt)) io.out(line);
    }
    return 0;
  } catch (err) {
    io.err(`hikyaku trace: reading the trace from ${natsUrl} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await nc.close().catch(() => undefined);
  }
}
