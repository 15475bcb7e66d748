/**
 * Failures of the sender itself (not replies of a remote server). Each carries the reply the
 * sender reports for the recipients it affects; all of them are temporary, so the mail
 * waits instead of bouncing for a fault on our side.
 */
import { HikyakuError } from '../../core/src/errors.ts';

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
