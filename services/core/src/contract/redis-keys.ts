/**
 * Redis keys. One hash tag per pool ({pool}) keeps a pool's keys in one slot, so the
 * atomic scripts that touch several of them also work on Redis Cluster.
 */
export const REDIS_KEYS = {
  /** Suppressed recipients: hash lower-cased address -> JSON {reason, at, reply?, source}. */
  suppressions: (pool: string): string => `hikyaku:{${pool}}:suppressions`,
  /** Messages a submitter handed in during one minute (fixed window; expires by itself). */
  submitterMinute: (pool: string, submitter: string, minute: number): string =>
    `hikyaku:{${pool}}:submitter-rate:${submitter}:${minute}`,
  /**
   * AUTH attempts without a success of one client unit (an address, or an IPv6 /64:
   * `throttleKey()` of the ingress), counted before the password is checked; expires
   * `lockoutMs` after the last attempt counted. Not per pool nor per listener:
   * AUTH comes before the pool is known, and one count over every listener keeps a client
   * from multiplying its attempts. Tagged by the unit, since its script touches this key
   * alone and many guessing clients then spread over the cluster instead of one slot.
   */
  authFailures: (unit: string): string => `hikyaku:auth-failures:{${unit}}`,
  /** Feedback messages one client address handed in to a pool during one minute. */
  feedbackMinute: (pool: string, client: string, minute: number): string =>
    `hikyaku:{${pool}}:feedback-rate:${client}:${minute}`,
  /**
   * What each sender domain's mail did on one calendar day (pool time zone): hash
   * "<domain>|delivered" and "<domain>|complaints" -> count. The complaint guard's window.
   */
  senderDomainDay: (pool: string, dayKey: string): string =>
    `hikyaku:{${pool}}:sender-domains:${dayKey}`,
  /** Sender domains whose bulk mail is held by the complaint guard: hash domain -> JSON. */
  complaintHolds: (pool: string): string => `hikyaku:{${pool}}:complaint-holds`,
  /** Sender domains over the complaint guard's warning line: hash domain -> JSON. */
  complaintLevels: (pool: string): string => `hikyaku:{${pool}}:complaint-levels`,
  /** The same per submitter (the username it authenticated as): "<submitter>|delivered" etc. */
  submitterDay: (pool: string, dayKey: string): string => `hikyaku:{${pool}}:submitters:${dayKey}`,
  /** Submitters whose bulk mail is held by the complaint guard: hash submitter -> JSON. */
  submitterHolds: (pool: string): string => `hikyaku:{${pool}}:submitter-complaint-holds`,
  /** Submitters over the complaint guard's warning line: hash submitter -> JSON. */
  submitterLevels: (pool: string): string => `hikyaku:{${pool}}:submitter-complaint-levels`,
  /**
   * Who submitted a message sent with the pool's return path (string; expires after the
   * complaint window): a complaint names the message, and this names its submitter.
   */
  messageSubmitter: (pool: string, id: string): string =>
    `hikyaku:{${pool}}:message-submitter:${id}`,
  // scheduler: shaping state shared by every replica (see docs/shaping.md). A "site" is
  // what one rate budget covers: a named rate policy, or "default:<domain>".
  /** Warm-up progress: hash IP -> JSON {day, lastDayKey}. */
  warmup: (pool: string): string => `hikyaku:{${pool}}:warmup`,
  /** Messages dispatched on one calendar day (pool time zone): hash IP -> count. */
  sentOnDay: (pool: string, dayKey: string): string => `hikyaku:{${pool}}:sent:${dayKey}`,
  /** Recipient outcomes of one day: hash "<IP>|delivered" and "<IP>|attempted" -> count. */
  outcomesOnDay: (pool: string, dayKey: string): string => `hikyaku:{${pool}}:outcomes:${dayKey}`,
  /** Adaptive throttling: hash "<IP>|<site>" -> JSON ThrottleState. */
  throttle: (pool: string): string => `hikyaku:{${pool}}:throttle`,
  /** Sliding log of dispatches of one IP to one site: sorted set, score = time. */
  rateLog: (pool: string, ip: string, site: string): string =>
    `hikyaku:{${pool}}:rate:${ip}|${site}`,
  /** Earliest time the next message may leave one IP for one site (pacing). */
  pace: (pool: string, ip: string, site: string): string => `hikyaku:{${pool}}:pace:${ip}|${site}`,
  /** Sliding log of dispatches to one site from the whole pool. */
  poolRateLog: (pool: string, site: string): string => `hikyaku:{${pool}}:pool-rate:${site}`,
  /** A parking lane: sorted set, member = queue item key, score = its turn (ms). */
  lane: (pool: string, lane: string): string => `hikyaku:{${pool}}:lane:${lane}`,
  /** The pool version (generation) a warm-up lane's turns were planned under. */
  lanePlan: (pool: string, lane: string): string => `hikyaku:{${pool}}:lane-plan:${lane}`,
  /** The spacing (ms) a lane's turns were planned with, so a faster rate can close them up. */
  laneSpacing: (pool: string, lane: string): string => `hikyaku:{${pool}}:lane-spacing:${lane}`,
  /**
   * Receivers' verdicts on the pool's IPs in one time bucket (reputation guard): hash
   * "<IP>|attempted", "<IP>|blocked", "<IP>|hard", "<IP>|throttled" -> recipients.
   */
  verdicts: (pool: string, bucket: number): string => `hikyaku:{${pool}}:verdicts:${bucket}`,
  /**
   * Destinations an admin holds (`hikyaku queue --hold`): hash domain -> JSON {at}. Nothing
   * is sent to a held domain; its mail waits.
   */
  destinationHolds: (pool: string): string => `hikyaku:{${pool}}:destination-holds`,
  /**
   * Deferred items of one destination waiting for their retry: sorted set, member =
   * "<queue item key>#<queue stream sequence>", score = the retry's time (ms). What the queue
   * view shows as "retry wait" and what a flush makes due now.
   */
  retryWaits: (pool: string, domain: string): string => `hikyaku:{${pool}}:retry-waits:${domain}`,
  /** Items held back per rate policy: sorted set, member = queue item key, score = receivedAt. */
  queued: (pool: string, policy: string): string => `hikyaku:{${pool}}:queued:${policy}`,
  /**
   * A job's result has been counted (string; expires after the events' duplicate window):
   * the same result recorded twice (a late hand-off, then its stream copy) counts once.
   */
  resultCounted: (pool: string, jobId: string): string =>
    `hikyaku:{${pool}}:result-counted:${jobId}`,
  /**
   * A message's destination groups still open (set of group names; expires a while after
   * the pool's retry max age): when the last one ends, the body is removed. Only messages
   * of more than one group have it.
   */
  messageGroups: (pool: string, messageId: string): string =>
    `hikyaku:{${pool}}:msg:${messageId}:open`,
  // The bodies stream is one for every pool, so these two share a tag of their own.
  /**
   * Sequences in HIKYAKU_BODIES of bodies no longer needed, waiting for the next purge:
   * sorted set, member and score the sequence.
   */
  bodiesEnded: 'hikyaku:{bodies}:ended',
  /** Bodies stored again past the purge point: hash message id -> sequence of the copy. */
  bodiesCopied: 'hikyaku:{bodies}:copied',
  /** Which scheduler purges the bodies stream (string, its instance; expires unless renewed). */
  bodiesPurger: 'hikyaku:{bodies}:purger',
} as const;
