/**
 * Handing a result to a scheduler directly: a core NATS request on the pool's hand-off
 * subject, answered by one scheduler of the queue group once the result's events, retry
 * and counters are stored. That spares the result's write to HIKYAKU_RESULTS and the
 * stream's delivery and acknowledgement. Anything but an OK answer — no scheduler
 * subscribed (a release without the hand-off, or none running), an error answer, no
 * answer in time — leaves the result to the stream, which every scheduler still consumes.
 * A timeout is ambiguous (the scheduler may have recorded it and its answer be late or
 * lost): the scheduler records a result it sees twice without doubling anything.
 */

import type { WireVersion } from '@hikyaku/core';
import {
  codecs,
  HANDOFF_JOB_ACK_HEADER,
  handoffReplies,
  type JobResult,
  type Logger,
  SUBJECTS,
} from '@hikyaku/core';
import { headers, type NatsConnection, RequestError, TimeoutError } from '@nats-io/transport-node';

/** How a hand-off ended: handed_off, or why the result goes to the stream instead. */
export type HandoffOutcome = 'handed_off' | 'no_responders' | 'timeout' | 'refused' | 'failed';

/**
 * How a result was taken: false when it was not (store it in the stream), `recorded` when
 * the scheduler recorded it (acknowledge the job), `acked` when it recorded it and
 * acknowledged the job too (see HANDOFF_JOB_ACK_HEADER).
 */
export type HandoffTaken = false | 'recorded' | 'acked';

/** `jobAck`: the job's acknowledgement subject, for the scheduler to acknowledge it. */
export type HandOff = (result: JobResult, jobAck?: string) => Promise<HandoffTaken>;

export function createResultHandoff(deps: {
  nc: NatsConnection;
  timeoutMs: number;
  wireVersion: WireVersion;
  log: Logger;
  onOutcome?: (pool: string, outcome: HandoffOutcome) => void;
}): HandOff {
  const { nc, log } = deps;
  /** The last reason logged, so a lasting one is logged once, not per result. */
  let logged: string | undefined;

  function fellBack(result: JobResult, outcome: HandoffOutcome, detail: object): void {
    deps.onOutcome?.(result.job.delivery.pool, outcome);
    const reason = `${outcome}:${'code' in detail ? String(detail.code) : ''}`;
    if (reason === logged) return;
    logged = reason;
    // No scheduler of this release answering is expected during a rolling upgrade.
    const level = outcome === 'no_responders' ? 'info' : 'warn';
    log[level](
      { jobId: result.job.jobId, outcome, ...detail },
      'result not handed off; storing it in HIKYAKU_RESULTS',
    );
  }

  return async function handOff(result, jobAck) {
    let data: Uint8Array;
    /** A status (headers) is never the acknowledgement's answer, which is bare. */
    let bare = false;
    const h = jobAck ? headers() : undefined;
    if (h && jobAck) h.set(HANDOFF_JOB_ACK_HEADER, jobAck);
    try {
      const reply = await nc.request(
        SUBJECTS.resultHandoff(result.job.delivery.pool),
        codecs.result.encode(result, deps.wireVersion),
        h ? { timeout: deps.timeoutMs, headers: h } : { timeout: deps.timeoutMs },
      );
      data = reply.data;
      bare = !reply.headers;
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders()) {
        fellBack(result, 'no_responders', {});
      } else if (err instanceof TimeoutError) {
        fellBack(result, 'timeout', { timeoutMs: deps.timeoutMs });
      } else {
        fellBack(result, 'failed', { err });
      }
      return false;
    }
    const acked = jobAck !== undefined && bare && handoffReplies.isJobAcked(data);
    const answer = acked ? ({ ok: true } as const) : handoffReplies.decode(data);
    if (!answer.ok) {
      fellBack(result, 'refused', { code: answer.code, reason: answer.message });
      return false;
    }
    deps.onOutcome?.(result.job.delivery.pool, 'handed_off');
    if (logged !== undefined) {
      logged = undefined;
      log.info({}, 'results are handed off to the scheduler again');
    }
    return acked ? 'acked' : 'recorded';
  };
}
