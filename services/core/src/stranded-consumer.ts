/**
 * When a durable consumer of a work-queue stream has lost track of messages the stream still
 * holds. On a work-queue stream a message stays only until its consumer acknowledges it, so
 * every message on the consumer's subject is one the consumer still owes a delivery. A
 * consumer that reports nothing pending, nothing waiting for an acknowledgement and a
 * delivered floor past such a message will never hand it out again: nats-server 2.9 leaves
 * consumers in this state after a restarted cluster node resets a stream's replica
 * ("Resetting stream cluster state"). The only cure is a new consumer with the same name,
 * which starts from the first remaining message.
 *
 * The decision is pure: the numbers read from stream and consumer info are passed in.
 */

/** What one check read: the consumer's info and the first message on its subject. */
export interface ConsumerObservation {
  /** The consumer's creation time as the server reports it: tells a recreated one apart. */
  created: string;
  /** Messages after the delivered floor that match the filter (`num_pending`). */
  numPending: number;
  /** Messages handed out and not yet acknowledged, naks with a delay included. */
  numAckPending: number;
  /** The stream sequence of the last message handed out (`delivered.stream_seq`). */
  deliveredStreamSeq: number;
  /** The first message the stream holds on the consumer's subject; undefined if none. */
  firstSeqOnSubject: number | undefined;
}

/** The stream sequence the consumer has stranded, or undefined when it is healthy. */
export function strandedSeq(o: ConsumerObservation): number | undefined {
  if (o.firstSeqOnSubject === undefined) return undefined;
  if (o.numPending > 0 || o.numAckPending > 0) return undefined;
  return o.firstSeqOnSubject <= o.deliveredStreamSeq ? o.firstSeqOnSubject : undefined;
}

/**
 * Whether to recreate the consumer, given this check and the one before it. One check is not
 * enough: an acknowledgement that the consumer has counted and the stream has not yet applied
 * looks the same for a moment. The same message must be stranded on the same consumer in two
 * checks some seconds apart; a consumer recreated meanwhile (by another replica of the
 * service) starts the count again.
 */
export function shouldRecreate(
  previous: ConsumerObservation | undefined,
  current: ConsumerObservation,
): boolean {
  if (!previous || previous.created !== current.created) return false;
  const before = strandedSeq(previous);
  return before !== undefined && strandedSeq(current) === before;
}
