/**
 * The end of a transaction whose data was read in full: the relay's header fields go in
 * front of the client's bytes, JetStream stores body and envelope, and only then is the
 * client told 250 with the queue id. Any failure to store is a 451: the client keeps the
 * message.
 */

import type { CompiledPool, CompiledSubmitter, EnvelopeDsn } from '@hikyaku/core';
import { nuid } from '@nats-io/transport-node';
import type { SMTPServerSession } from 'smtp-server';
import { isBulkMail } from './bulk.ts';
import type { ListenerName } from './config.ts';
import { transactionDsn } from './dsn-params.ts';
import { addedHeaders, headerSection, messageHead, messageIdOf } from './headers.ts';
import type { Reservation } from './inflight.ts';
import type { IngressContext } from './session-handlers.ts';
import type { RefusalReason, SmtpReplyError } from './smtp-errors.ts';
import { StoreFullError } from './store.ts';

export interface ReadTransaction {
  session: SMTPServerSession;
  pool: CompiledPool;
  submitter?: CompiledSubmitter | undefined;
  /** RET and ENVID of the accepted MAIL FROM. */
  dsn?: EnvelopeDsn | undefined;
  /** The message as read, in pieces. */
  message: { chunks: Buffer[]; bytes: number };
  /**
   * Its bytes in the in-flight budget: given back once the body's write has ended (a write
   * that outlives its deadline still holds the body), or at once when there is none.
   */
  reservation: Reservation;
}

export async function acceptMessage(
  ctx: Pick<IngressContext, 'config' | 'log' | 'metrics' | 'store' | 'now' | 'dateLine'>,
  listener: ListenerName,
  refuse: (reason: RefusalReason, pool?: CompiledPool) => SmtpReplyError,
  tx: ReadTransaction,
): Promise<{ error?: SmtpReplyError; reply?: string }> {
  const { config, log, metrics, now } = ctx;
  const { session, pool, message } = tx;
  const started = now();
  if (!ctx.store.available()) {
    tx.reservation.release();
    return { error: refuse('storeUnavailable', pool) };
  }
  const id = nuid.next();
  const rcpts = session.envelope.rcptTo.map((r) => r.address);
  const tls = session.tlsOptions
    ? { version: session.tlsOptions.version, cipher: session.tlsOptions.name }
    : undefined;
  // One instant for the Received and Date fields and the envelope's receivedAt.
  const receivedAt = now();
  // Read once for the added fields, the Message-ID and the bulk mark.
  const header = headerSection(messageHead(message.chunks));
  const headers = addedHeaders(header, {
    clientHelo: session.hostNameAppearsAs,
    clientAddress: session.remoteAddress,
    hostname: config.hostname,
    queueId: id,
    ...(session.secure && tls ? { tls } : {}),
    authenticated: Boolean(session.user),
    smtputf8: Boolean(session.envelope.smtpUtf8),
    rcpts,
    date: ctx.dateLine(receivedAt),
  });
  const messageId = messageIdOf(header) ?? `${id}@${config.hostname}`;
  const bulk = isBulkMail(header);
  // Joined once, with the added fields in front; the pieces go as soon as it is.
  const body = Buffer.concat([headers, ...message.chunks], headers.length + message.bytes);
  message.chunks.length = 0;
  try {
    await ctx.store.store(
      {
        id,
        messageId,
        pool: pool.key,
        receivedAt,
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        rcpts,
        clientAddress: session.remoteAddress,
        ...(tx.submitter ? { submitter: tx.submitter.username } : {}),
        ...(bulk ? { bulk: true } : {}),
        ...transactionDsn(tx.dsn, session.envelope.rcptTo),
      },
      body,
      () => tx.reservation.release(),
    );
  } catch (err) {
    const full = err instanceof StoreFullError;
    log.warn({ err, id, pool: pool.key }, `could not store message; answering ${full ? 452 : 451}`);
    return { error: refuse(full ? 'storeFull' : 'storeUnavailable', pool) };
  }
  log.info(
    {
      id,
      messageId,
      pool: pool.key,
      listener,
      client: session.remoteAddress,
      helo: session.hostNameAppearsAs,
      ...(tx.submitter ? { submitter: tx.submitter.username } : {}),
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      size: message.bytes + headers.length,
      nrcpt: rcpts.length,
      ...(tls && session.secure ? { tls: tls.version } : {}),
    },
    'accepted',
  );
  metrics.accepted.inc({ pool: pool.key, listener });
  metrics.size.observe({ pool: pool.key }, message.bytes);
  metrics.latency.observe({ pool: pool.key, listener }, (now() - started) / 1000);
  return { reply: `2.0.0 Ok: queued as ${id}` };
}
