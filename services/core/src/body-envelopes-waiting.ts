/**
 * How much mail stored in the one-write form (envelope in its body's message) the scheduler
 * has still to split. Body subjects name no pool, so this is one count for all pools. It is
 * the scheduler's headers-only consumer of the bodies stream: messages it has not been handed
 * yet plus those handed but not acknowledged. Bodies stored apart from their envelope pass
 * through the same consumer, so the count errs high, never low.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { CONSUMERS, STREAMS } from './contract/subjects.ts';

export async function bodyEnvelopesWaiting(jsm: JetStreamManager): Promise<number> {
  try {
    const info = await jsm.consumers.info(STREAMS.bodies, CONSUMERS.schedulerBodyEnvelopes);
    return info.num_pending + info.num_ack_pending;
  } catch (err) {
    // Every scheduler creates the consumer at start, from the stream's first message: without
    // it, no scheduler of a release that reads this form has run yet, and 0 is all it can say.
    if (
      err instanceof JetStreamApiError &&
      (err.code === JetStreamApiCodes.ConsumerNotFound ||
        err.code === JetStreamApiCodes.StreamNotFound)
    ) {
      return 0;
    }
    throw err;
  }
}
