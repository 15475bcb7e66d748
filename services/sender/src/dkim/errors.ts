/**
 * DKIM failures. A bad key is found when the signer is built; the sender's keyring then holds
 * back the mail of that key's domain instead of sending it unsigned, where it would fail
 * DMARC. A signing failure on one message is reported so that the message is retried rather
 * than sent unsigned.
 */
import { HikyakuError } from '@hikyaku/core';

export class DkimKeyError extends HikyakuError {
  readonly domain: string;
  readonly selector: string;

  constructor(domain: string, selector: string, problem: string, options?: { cause?: unknown }) {
    super(
      'HIKYAKU_DKIM_KEY_INVALID',
      `DKIM key ${selector}._domainkey.${domain}: ${problem}`,
      options,
    );
    this.name = 'DkimKeyError';
    this.domain = domain;
    this.selector = selector;
  }
}

export class DkimSignError extends HikyakuError {
  readonly domain: string;

  constructor(domain: string, problem: string, options?: { cause?: unknown }) {
    super('HIKYAKU_DKIM_SIGN_FAILED', `DKIM signing for ${domain} failed: ${problem}`, options);
    this.name = 'DkimSignError';
    this.domain = domain;
  }
}
