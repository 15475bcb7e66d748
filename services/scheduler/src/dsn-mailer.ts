/**
 * Sends delivery status notifications as new messages through the normal path: the DSN is
 * built by core's pure builder, its body stored with the BodyStore and its envelope (from
 * the null sender, so it can never bounce back) stored the way the ingress stores one: at
 * wire version 2 in the body's message (one write), else apart in the envelopes stream. Its id is derived from what it reports on, so a redelivered result re-publishes the
 * same DSN and JetStream's de-duplication drops the copy.
 *
 * The client's DSN parameters (RFC 3461) decide who is reported (NOTIFY) and what is quoted
 * back (ORCPT, ENVID). Only the headers of the original are ever returned: RET=HDRS asks
 * for exactly that, and RET=FULL or no RET get it too (a 25 MiB message is not mailed back).
 */
import { createHash } from 'node:crypto';
import {
  type BodyStore,
  codecs,
  type Delivery,
  type Envelope,
  type Logger,
  MSG_IDS,
  SUBJECTS,
  type WireVersion,
} from '@hikyaku/core';
import { buildDsn, type DsnRecipient, type DsnRefusal, shouldSendDsn } from '@hikyaku/core/policy';
import type { JetStreamClient } from '@nats-io/jetstream';
import { reportable } from './dsn-params.ts';

/** What the DSN is about: the original message's delivery, with its DSN parameters. */
export type DsnSubject = Pick<
  Delivery,
  'id' | 'pool' | 'from' | 'body' | 'receivedAt' | 'dsn' | 'rcptDsn'
>;

/** not-requested: no recipient of the report asked for it (NOTIFY). */
export type DsnResult = 'sent' | DsnRefusal | 'no-body' | 'not-requested';

export interface DsnMailer {
  /**
   * `key` names the event reported (a job id and what happened), making the DSN's id.
   * Recipients whose NOTIFY does not ask for their kind of report are left out.
   */
  send(
    subject: DsnSubject,
    recipients: DsnRecipient[],
    key: string,
    now: number,
  ): Promise<DsnResult>;
}

/** The envelope submitter recorded on DSNs. */
export const DSN_SUBMITTER = 'hikyaku-dsn';

/** Only the head of the original goes into a DSN; reading further is wasted work. */
function head(body: Uint8Array): Buffer {
  const buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const end = buffer.indexOf('\r\n\r\n');
  return end < 0 ? buffer : buffer.subarray(0, end + 2);
}

export function createDsnMailer(deps: {
  js: JetStreamClient;
  bodies: BodyStore;
  reportingMta: string;
  rng: () => number;
  log: Logger;
  /** From 2 on, an inline DSN body carries its envelope (readers of 1 cannot split it). */
  wireVersion: WireVersion;
}): DsnMailer {
  const { js, bodies, log } = deps;
  return {
    async send(subject, rows, key, now) {
      if (subject.from === '') return 'null-sender';
      const recipients = reportable(subject, rows);
      if (recipients.length === 0) return 'not-requested';
      let original: Buffer;
      try {
        original = head(await bodies.get(subject.id, subject.body));
      } catch (err) {
        log.warn({ err, id: subject.id }, 'original body gone; no DSN');
        return 'no-body';
      }
      const decision = shouldSendDsn(subject.from, original);
      if (!decision.send) return decision.reason;
      const dsn = await buildDsn({
        reportingMta: deps.reportingMta,
        envelopeFrom: subject.from,
        ...(subject.dsn?.envid ? { envelopeId: subject.dsn.envid } : {}),
        arrivalDate: subject.receivedAt,
        now,
        originalHeaders: original,
        recipients,
        rng: deps.rng,
      });
      const id = `dsn${createHash('sha256').update(key).digest('hex').slice(0, 29)}`;
      const envelope: Omit<Envelope, 'body'> = {
        v: 1,
        id,
        pool: subject.pool,
        receivedAt: now,
        from: '',
        rcpts: [...dsn.envelope.to],
        submitter: DSN_SUBMITTER,
      };
      if (deps.wireVersion >= 2 && (await bodies.putWithEnvelope(envelope, dsn.raw))) {
        return 'sent';
      }
      const body = await bodies.put(id, dsn.raw);
      await js.publish(
        SUBJECTS.envelope(subject.pool),
        codecs.envelope.encode({ ...envelope, body }),
        { msgID: MSG_IDS.envelope(id) },
      );
      return 'sent';
    },
  };
}
