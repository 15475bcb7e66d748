/**
 * Failures of the sender itself (not replies of a remote server). Each carries the reply the
 * sender reports for the recipients it affects; all of them are temporary, so the mail
 * waits instead of bouncing for a fault on our side.
 */
import { HikyakuError } from '@hikyaku/core';

export interface LocalReply {
  code: number;
  enhanced: string;
}

export class SenderError extends HikyakuError {
  readonly reply: LocalReply;

  constructor(code: string, reply: LocalReply, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SenderError';
    this.reply = reply;
  }
}

/**
 * The job's IP is not an address of this pod. Sending from another address would break the
 * pool's IP assignment (warm-up, reputation, SPF), so every job for it is deferred and the
 * problem is reported until the pod gets the address.
 */
export class SourceAddressAbsentError extends SenderError {
  readonly address: string;

  constructor(address: string, pod: string, options?: { cause?: unknown }) {
    super(
      'HIKYAKU_SOURCE_IP_ABSENT',
      { code: 451, enhanced: '4.3.0' },
      `source address ${address} is not present on pod ${pod}; nothing was sent from it`,
      options,
    );
    this.name = 'SourceAddressAbsentError';
    this.address = address;
  }
}

/** The rate policy requires TLS and this host did not offer STARTTLS (or it failed). */
export class TlsRequiredError extends SenderError {
  readonly host: string;

  constructor(host: string, policy: string) {
    super(
      'HIKYAKU_TLS_REQUIRED',
      { code: 451, enhanced: '4.7.4' },
      `TLS is required by rate policy ${policy}, but ${host} did not offer STARTTLS`,
    );
    this.name = 'TlsRequiredError';
    this.host = host;
  }
}

/**
 * The sender is shutting down and the job had not started a transaction, or the grace period
 * ran out during one: the job goes back to JetStream for redelivery.
 */
export class HandBackError extends SenderError {
  constructor(reason: string) {
    super('HIKYAKU_SENDER_DRAINING', { code: 451, enhanced: '4.3.2' }, reason);
    this.name = 'HandBackError';
  }
}

/** The message could not be signed although the pool has a key for its domain. */
export class SigningUnavailableError extends SenderError {
  constructor(domain: string, options?: { cause?: unknown }) {
    super(
      'HIKYAKU_DKIM_UNAVAILABLE',
      { code: 451, enhanced: '4.3.0' },
      `the DKIM key for ${domain} could not be loaded; the message is held rather than sent unsigned`,
      options,
    );
    this.name = 'SigningUnavailableError';
  }
}

/**
 * The recipient domain's MTA-STS policy is in enforce mode and this MX host does not meet
 * it (RFC 8461 §4): its name matches none of the policy's patterns, it does not offer
 * STARTTLS, or its certificate does not verify for its name. The host is skipped like one
 * that cannot be reached; when no host qualifies the mail waits (§5.1: never bounced for
 * this). 4.7.4 ("security features not supported") when TLS is missing, as for a rate
 * policy's `tls: required`; 4.7.5 ("cryptographic failure") when the certificate or the
 * host name does not pass.
 */
export class MtaStsError extends SenderError {
  readonly host: string | undefined;

  constructor(
    domain: string,
    host: string | undefined,
    reason: string,
    problem: 'no-tls' | 'validation',
    options?: { cause?: unknown },
  ) {
    super(
      'HIKYAKU_MTA_STS_FAILED',
      { code: 451, enhanced: problem === 'no-tls' ? '4.7.4' : '4.7.5' },
      `MTA-STS policy of ${domain} is enforced: ${reason}; the mail waits rather than go without verified TLS`,
      options,
    );
    this.name = 'MtaStsError';
    this.host = host;
  }
}

/**
 * The pinned nodemailer lacks, or has changed, an internal the sender overrides or calls
 * (per-recipient DSN parameters, the message data transfer): found by the start-up
 * self-check, so no mail leaves without its NOTIFY/ORCPT or in another form than intended.
 */
export class SmtpClientHookMissingError extends HikyakuError {
  constructor(hook: string) {
    super(
      'HIKYAKU_SMTP_CLIENT_HOOK_MISSING',
      `nodemailer has no ${hook} as the sender expects (it overrides nodemailer internals to pass each recipient's DSN parameters on and to send the message data); install the nodemailer version package-lock.json pins`,
    );
    this.name = 'SmtpClientHookMissingError';
  }
}
