/**
 * How a scheduler answers a result hand-off it recorded (contract/handoff.ts). When the
 * sender named its job's acknowledgement subject, the scheduler acknowledges the job with
 * the hand-off's reply subject: nats-server takes the acknowledgement and answers the
 * sender with an empty message, which tells it both that the result is recorded and that
 * its job is acknowledged. That is one message to nats-server where an OK answer and the
 * sender's own acknowledgement were two. Without the header, the OK answer as before.
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { HANDOFF_JOB_ACK_HEADER, handoffReplies, isJobAckSubject } from './contract/handoff.ts';

const ACK = Buffer.from('+ACK');

/** Called only once every output of the handed-off result is stored. */
export function answerRecordedHandoff(nc: NatsConnection, msg: Msg): void {
  const jobAck = msg.headers?.get(HANDOFF_JOB_ACK_HEADER) ?? '';
  if (msg.reply && isJobAckSubject(jobAck)) {
    nc.publish(jobAck, ACK, { reply: msg.reply });
    return;
  }
  msg.respond(handoffReplies.ok());
}

/**
 * The acknowledgement subject of a job, for its hand-off (HANDOFF_JOB_ACK_HEADER). The
 * client's message keeps it as `reply` without declaring it on the JsMsg type; a client
 * without it gives undefined, and the sender then acknowledges its job itself as before.
 */
export function jobAckSubject(msg: JsMsg): string | undefined {
  const reply: unknown = (msg as { reply?: unknown }).reply;
  return typeof reply === 'string' && isJobAckSubject(reply) ? reply : undefined;
}
