/**
 * From what happened at a receiver to one outcome per recipient, and whether a failure at
 * one address of a route should move on to the next (RFC 5321 §5.1). Pure: no I/O, so every
 * mapping is tested on its own.
 *
 * Remote replies keep their code, enhanced code and text. Failures without a reply — a
 * refused or lost connection, a timeout — become deferrals generated here, in Postfix's
 * wording and status codes, naming the host; so does anything that goes wrong on our side.
 * Only a 5xx reply, a domain that does not exist or a null MX fails a recipient.
 */
import type { RecipientOutcome } from '@hikyaku/core';
import { SenderError } from './errors.ts';
import { parseReply, remoteQueueId } from './reply.ts';
import { AllTargetsFailedError, RoutingError } from './routing/errors.ts';
import type { SendResult, SmtpFailure } from './smtp-session.ts';

/** Where a failure happened, for the text of a generated reply. */
export interface FailurePlace {
  host: string;
  address?: string;
  port?: number;
}

function isSmtpFailure(err: unknown): err is SmtpFailure {
  return err instanceof Error && typeof (err as Partial<SmtpFailure>).phase === 'string';
}

/** The source address itself cannot be used: no other target would fare better. */
function isSourceFailure(err: SmtpFailure): boolean {
  return err.originalCode === 'EADDRNOTAVAIL' || err.code === 'EADDRNOTAVAIL';
}

/**
 * Whether to try the route's next address after this failure: the host could not be
 * reached, did not greet in time, greeted (or answered EHLO/STARTTLS) with 4xx, failed the
 * TLS handshake, did not offer the TLS the policy requires, or does not meet the domain's
 * enforced MTA-STS policy. Once a transaction began,
 * its outcome stands.
 */
export function shouldTryNextTarget(err: unknown): boolean {
  if (err instanceof SenderError) {
    return err.code === 'HIKYAKU_TLS_REQUIRED' || err.code === 'HIKYAKU_MTA_STS_FAILED';
  }
  if (!isSmtpFailure(err)) return false;
  if (err.phase === 'connect') return !isSourceFailure(err);
  if (err.phase !== 'setup') return false;
  return err.responseCode === undefined || (err.responseCode >= 400 && err.responseCode < 500);
}

function where(place: FailurePlace): string {
  const address = place.address && place.address !== place.host ? `[${place.address}]` : '';
  return `${place.host}${address}${place.port ? `:${place.port}` : ''}`;
}

const WHILE: Record<SmtpFailure['phase'], string> = {
  connect: 'connecting',
  setup: 'setting up the session (greeting, EHLO, STARTTLS)',
  envelope: 'sending the envelope',
  data: 'sending the message',
};

function generated(
  rcpts: readonly string[],
  reply: { code: number; enhanced: string },
  text: string,
  extra: { remoteHost?: string; errorCode?: string },
): RecipientOutcome[] {
  return rcpts.map((rcpt) => ({
    rcpt,
    status: reply.code >= 500 ? 'failed' : 'deferred',
    code: reply.code,
    enhanced: reply.enhanced,
    text: `${reply.enhanced} ${text}`,
    ...(extra.remoteHost ? { remoteHost: extra.remoteHost } : {}),
    ...(extra.errorCode ? { errorCode: extra.errorCode } : {}),
  }));
}

function fromReply(rcpt: string, response: string | undefined, code: number, host: string) {
  const reply = parseReply(response, code);
  return {
    rcpt,
    status: reply.code >= 500 ? 'failed' : 'deferred',
    code: reply.code,
    ...(reply.enhanced ? { enhanced: reply.enhanced } : {}),
    text: reply.text,
    remoteHost: host,
  } satisfies RecipientOutcome;
}

function fromSmtpFailure(
  rcpts: readonly string[],
  err: SmtpFailure,
  place: FailurePlace,
): RecipientOutcome[] {
  const host = place.host;
  if (isSourceFailure(err)) {
    return generated(
      rcpts,
      { code: 451, enhanced: '4.3.0' },
      `source address is not present on this pod: ${err.message}`,
      { errorCode: 'HIKYAKU_SOURCE_IP_ABSENT' },
    );
  }
  const refusals = new Map<string, SmtpFailure>();
  for (const e of err.rejectedErrors ?? []) if (e.recipient) refusals.set(e.recipient, e);
  if (err.responseCode !== undefined) {
    return rcpts.map((rcpt) => {
      const own = refusals.get(rcpt) ?? err;
      return fromReply(rcpt, own.response, own.responseCode ?? err.responseCode ?? 451, host);
    });
  }
  if (err.code === 'EMESSAGE' && /larger than allowed/i.test(err.message)) {
    return generated(
      rcpts,
      { code: 552, enhanced: '5.3.4' },
      `message is larger than ${host} accepts`,
      { remoteHost: host, errorCode: 'EMESSAGE' },
    );
  }
  const errorCode = err.originalCode ?? err.code;
  const extra = { remoteHost: host, ...(errorCode ? { errorCode } : {}) };
  if (err.phase === 'connect') {
    return generated(
      rcpts,
      { code: 451, enhanced: '4.4.1' },
      `connect to ${where(place)}: ${err.message}`,
      extra,
    );
  }
  if (err.code === 'ETIMEDOUT') {
    return generated(
      rcpts,
      { code: 451, enhanced: '4.4.2' },
      `conversation with ${where(place)} timed out while ${WHILE[err.phase]}`,
      extra,
    );
  }
  const tls = err.code === 'ETLS';
  return generated(
    rcpts,
    { code: 451, enhanced: tls ? '4.7.5' : '4.4.2' },
    `${tls ? 'TLS failure' : 'lost connection'} with ${where(place)} while ${WHILE[err.phase]}: ${err.message}`,
    extra,
  );
}

/** The outcomes of recipients whose transaction did not happen or was refused as a whole. */
export function outcomesForFailure(
  rcpts: readonly string[],
  err: unknown,
  place?: FailurePlace,
): RecipientOutcome[] {
  if (err instanceof AllTargetsFailedError) {
    const last = err.failures.at(-1);
    // The last host's own reason says more than "no host took it".
    if (last) return outcomesForFailure(rcpts, last.error, last.target);
    return generated(rcpts, err.reply, err.message, { errorCode: err.code });
  }
  if (err instanceof RoutingError) {
    return generated(rcpts, err.reply, err.message, { errorCode: err.code });
  }
  if (err instanceof SenderError) {
    const host = place?.host ?? (err as { host?: string }).host;
    return generated(rcpts, err.reply, err.message, {
      ...(host ? { remoteHost: host } : {}),
      errorCode: err.code,
    });
  }
  if (isSmtpFailure(err)) return fromSmtpFailure(rcpts, err, place ?? { host: 'unknown' });
  const e = err as Error & { code?: unknown };
  return generated(rcpts, { code: 451, enhanced: '4.3.0' }, e?.message ?? String(err), {
    ...(typeof e?.code === 'string' ? { errorCode: e.code } : {}),
  });
}

/**
 * The outcomes of a transaction the receiver accepted for at least one recipient.
 * `remoteDsn`: the receiver advertised DSN, so the recipients' DSN parameters went with
 * them and reporting a success is the receiver's duty from here on.
 */
export function outcomesForSend(
  rcpts: readonly string[],
  result: SendResult,
  host: string,
  remoteDsn = false,
): RecipientOutcome[] {
  const accepted = new Set(result.accepted);
  const refused = new Map(result.rejected.map((r) => [r.rcpt, r]));
  const reply = parseReply(result.response, 250);
  const queueId = remoteQueueId(result.response);
  return rcpts.map((rcpt): RecipientOutcome => {
    const refusal = refused.get(rcpt);
    if (refusal) return fromReply(rcpt, refusal.response, refusal.code, host);
    if (!accepted.has(rcpt)) {
      return generated(
        [rcpt],
        { code: 451, enhanced: '4.3.0' },
        `${host} gave no reply for this recipient`,
        { remoteHost: host },
      )[0] as RecipientOutcome;
    }
    return {
      rcpt,
      status: 'delivered',
      code: reply.code,
      ...(reply.enhanced ? { enhanced: reply.enhanced } : {}),
      text: reply.text,
      remoteHost: host,
      ...(queueId ? { remoteQueueId: queueId } : {}),
      ...(remoteDsn ? { remoteDsn } : {}),
    };
  });
}
