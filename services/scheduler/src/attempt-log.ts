/**
 * One log line per delivery attempt, at info, as Postfix writes one per recipient and try:
 * what an admin greps for first ("did it go out, and if not, why?"). Built from the event
 * the attempt became, so the log and the event stream never disagree. Recipients are
 * written as the configuration says: whole, as their domain only, or with the local part
 * replaced by a digest (the same address always gives the same digest, so one recipient's
 * lines can still be followed).
 */
import { createHash } from 'node:crypto';
import type { DeliveryEvent, Logger } from '@hikyaku/core';

export const RECIPIENT_LOG_MODES = ['full', 'domain', 'hash'] as const;
export type RecipientLogMode = (typeof RECIPIENT_LOG_MODES)[number];

/** Event types that end an attempt (or a message's wait), and the status a line names. */
const STATUS: Partial<Record<DeliveryEvent['type'], AttemptStatus>> = {
  delivered: 'sent',
  deferred: 'deferred',
  bounced: 'bounced',
  expired: 'expired',
};

export type AttemptStatus = 'sent' | 'deferred' | 'bounced' | 'expired';

export function loggedRecipient(rcpt: string, mode: RecipientLogMode): string {
  if (mode === 'full') return rcpt;
  const at = rcpt.lastIndexOf('@');
  const domain = at < 0 ? '' : rcpt.slice(at + 1).toLowerCase();
  if (mode === 'domain') return domain;
  const digest = createHash('sha256').update(rcpt.toLowerCase()).digest('hex').slice(0, 16);
  return `${digest}@${domain}`;
}

export interface AttemptLine {
  status: AttemptStatus;
  /** Queue id. */
  id: string;
  messageId?: string;
  pool: string;
  to: string;
  /** Sending IP. */
  ip?: string;
  /** Next hop host and the address connected to. */
  relay?: string;
  relayAddress?: string;
  /** 1 for the first attempt. */
  attempt?: number;
  /** Seconds since acceptance. */
  delay?: number;
  tls?: string;
  /** Enhanced status code (RFC 3463) of the reply, or the one the relay chose. */
  dsn?: string;
  code?: number;
  reply?: string;
}

/** The attempt line of an event, or undefined for events that are no attempt's end. */
export function attemptLine(event: DeliveryEvent, mode: RecipientLogMode): AttemptLine | undefined {
  const status = STATUS[event.type];
  if (!status) return undefined;
  const reply = event.reply;
  return {
    status,
    id: event.id,
    ...(event.messageId ? { messageId: event.messageId } : {}),
    pool: event.pool,
    to: loggedRecipient(event.rcpt, mode),
    ...(event.ip ? { ip: event.ip } : {}),
    ...(reply?.remoteHost ? { relay: reply.remoteHost } : {}),
    ...(reply?.remoteAddress ? { relayAddress: reply.remoteAddress } : {}),
    ...(event.attempt !== undefined ? { attempt: event.attempt + 1 } : {}),
    ...(event.delayMs !== undefined ? { delay: Math.round(event.delayMs) / 1000 } : {}),
    ...(event.tls ? { tls: event.tls } : {}),
    ...(reply?.enhanced ? { dsn: reply.enhanced } : {}),
    ...(reply ? { code: reply.code, reply: reply.text } : {}),
  };
}

type Publish = (
  events: DeliveryEvent[],
  msgIdOf?: (event: DeliveryEvent) => string,
) => Promise<boolean>;

/**
 * Events published through `publisher` whose type ends an attempt are logged once they are
 * stored: a line in the log then always has its event. Events that were all stored before
 * (publish resolves true) were logged then.
 */
export function withAttemptLog<P extends { publish: Publish }>(
  publisher: P,
  log: Pick<Logger, 'info'> & Partial<Pick<Logger, 'isLevelEnabled'>>,
  mode: RecipientLogMode,
): P {
  return {
    ...publisher,
    async publish(events, msgIdOf) {
      const repeat = await publisher.publish(events, msgIdOf);
      if (repeat) return repeat;
      // A log below info writes no line: nothing is built for it either.
      if (log.isLevelEnabled?.('info') === false) return false;
      for (const event of events) {
        const line = attemptLine(event, mode);
        if (line) log.info(line, 'delivery attempt');
      }
      return false;
    },
  };
}
