/**
 * `hikyaku trace <queue-id | Message-ID | recipient>`: a message's timeline from the trace
 * stream (accepted → planned → each attempt with its IP, next hop and reply → …).
 *
 * Exit status as every command (common.ts): nothing found is 1.
 */
import type { DeliveryEvent } from '@hikyaku/core';
import {
  type CliCommand,
  CliError,
  type CliIo,
  connectCliNats,
  HELP,
  parseCommandLine,
  RELAY_OPTIONS,
  type RelayOptions,
  relayOptionsOf,
  relayUrls,
  runCommand,
  usageError,
} from './common.ts';
import { findTrace, type TracedMessage } from './trace-read.ts';

export const TRACE_USAGE = `usage: hikyaku trace [--nats URL | --data-dir DIR] [--json] <queue-id | Message-ID | recipient>

  prints the timeline of the messages the key names: accepted, planned, every delivery
  attempt (sending IP, next hop, reply) and the end (delivered, bounced, expired,
  suppressed). Events are kept 7 days.

  --nats URL          NATS of the relay (default: $NATS_URL, else the local mode running
                      from --data-dir, default .hikyaku)
  --json              the events, one JSON object per line
`;

const WORD: Record<DeliveryEvent['type'], string> = {
  accepted: 'accepted',
  scheduled: 'planned',
  delivered: 'delivered',
  deferred: 'deferred',
  bounced: 'bounced',
  expired: 'expired',
  suppressed: 'suppressed',
  complained: 'complained',
  flushed: 'flushed',
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

interface TraceArgs extends RelayOptions {
  dataDir: string;
  key: string;
  json: boolean;
}

export const traceCommand: CliCommand<TraceArgs> = {
  name: 'trace',
  usage: TRACE_USAGE,
  parse(argv) {
    const { values, positionals } = parseCommandLine(argv, {
      ...RELAY_OPTIONS.nats,
      ...RELAY_OPTIONS.dataDir,
      json: { type: 'boolean', default: false },
    });
    if (values.help) return HELP;
    if (positionals.length !== 1) {
      throw usageError('name one queue id, Message-ID or recipient');
    }
    return {
      key: positionals[0] as string,
      ...relayOptionsOf(values),
      json: values.json ?? false,
    };
  },
  async run({ key, json, ...given }, io) {
    const { natsUrl } = await relayUrls(given, io, { nats: true, redis: false });
    const nats = await connectCliNats(natsUrl, 'trace', io);
    try {
      const result = await findTrace(nats.jsm, key).catch((err: unknown) => {
        throw new Error(`reading the trace from ${natsUrl} failed: ${(err as Error).message}`);
      });
      if (result.messages.length === 0) {
        throw new CliError(
          'HIKYAKU_NOT_FOUND',
          `nothing found for "${key}": no queue id, Message-ID or recipient of the last 7 days matches`,
        );
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
    } finally {
      await nats.nc.close().catch(() => undefined);
    }
  },
};

/** Runs the command; returns the exit status. */
export function runTraceCli(argv: string[], io: CliIo): Promise<number> {
  return runCommand(traceCommand, argv, io);
}
