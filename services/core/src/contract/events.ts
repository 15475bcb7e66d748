/**
 * Delivery events: what happened to each recipient of each message, published for readers
 * outside the path (webhooks, audit, `hikyaku trace`). Encoded by codecs.event.
 */
export type EventType =
  /**
   * Acceptance and planning are published live (SUBJECTS.progress), not stored: the outcome
   * event carries them. An acceptance is stored only for a message that waits before its
   * first attempt, which no outcome names yet.
   */
  | 'accepted'
  | 'scheduled'
  | 'delivered'
  | 'deferred'
  | 'bounced'
  | 'expired'
  | 'suppressed'
  | 'complained'
  /** An admin made the waiting recipient due now (`hikyaku queue --flush`). */
  | 'flushed';

/**
 * One event about one recipient of one message. Fields beyond the first version's (`v` 1:
 * type, id, pool, rcpt, at, ip, attempt, reply) are optional, so readers of either age
 * understand every event.
 */
export interface DeliveryEvent {
  v: 1;
  type: EventType;
  /** Queue id: the id the ingress answered with ("queued as …"). */
  id: string;
  pool: string;
  rcpt: string;
  at: number;
  ip?: string;
  /** Delivery attempts before this one (0: the first). */
  attempt?: number;
  reply?: {
    code: number;
    enhanced?: string;
    text: string;
    remoteHost?: string;
    remoteAddress?: string;
  };
  /** The message's Message-ID, angle brackets removed. */
  messageId?: string;
  /** Destination domain of the recipient (scheduled and later events). */
  domain?: string;
  /** TLS protocol version of the delivery attempt (e.g. "TLSv1.3"); absent: clear text. */
  tls?: string;
  /** Milliseconds from acceptance to this event: the acceptance is `at - delayMs`. */
  delayMs?: number;
  /**
   * When the scheduler chose the IP and handed this attempt to its sender (shown as
   * "planned"): on `delivered`, `deferred` and `bounced` events of an attempt.
   */
  plannedAt?: number;
  /** A `bounced` event reported by mail after the delivery had been accepted. */
  late?: true;
  /** A `complained` event's report: ARF Feedback-Type and Source-IP. */
  complaint?: { feedbackType: string; sourceIp?: string };
}

/**
 * What an admin did to a destination's waiting mail (`hikyaku queue --hold/--release/
 * --flush`), published beside the delivery events under the same pool and type tokens.
 */
export interface QueueActionEvent {
  v: 1;
  type: 'held' | 'released' | 'flushed';
  pool: string;
  /** The destination domain. */
  domain: string;
  at: number;
  /** Delivery items the action moved (flush: made due; release: none are counted). */
  items?: number;
}
