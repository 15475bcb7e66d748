/**
 * The DSN parameters (RFC 3461) of MAIL FROM and RCPT TO as the ingress keeps them.
 * smtp-server has already checked their syntax — RET is FULL or HDRS, NOTIFY is NEVER or a
 * list of SUCCESS, FAILURE and DELAY, ORCPT is `type;address`, no parameter twice, no
 * control characters — and decoded their xtext, answering 501 5.5.4 otherwise. What is
 * left here, as Postfix does it: ENVID and ORCPT must decode to printable ASCII (what xtext
 * is for; smtp-server decodes "+XX" octet by octet, so anything else would not survive
 * being encoded again), and must keep to the RFC's lengths once encoded, so that the
 * sender can pass every value on to a next hop as it came.
 */

import {
  type DsnNotify,
  ENVID_MAX,
  type EnvelopeDsn,
  ORCPT_MAX,
  type RecipientDsn,
} from '@hikyaku/core';
import { encodeOrcpt, encodeXtext } from '@hikyaku/core/policy';
import type { SMTPServerAddressArgs, SMTPServerRecipientDSN } from 'smtp-server';

export type Checked<T> = { ok: true; value: T | undefined } | { ok: false; problem: string };

const NOTIFY_VALUES: ReadonlySet<string> = new Set(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);
const PRINTABLE = /^[\x20-\x7e]*$/;

/** RET and ENVID of a MAIL FROM; no value when it had neither. */
export function mailDsn(args: SMTPServerAddressArgs | false): Checked<EnvelopeDsn> {
  const ret = args && typeof args.RET === 'string' ? args.RET.toUpperCase() : undefined;
  const envid = args && typeof args.ENVID === 'string' ? args.ENVID : undefined;
  if (envid !== undefined && !PRINTABLE.test(envid)) {
    return { ok: false, problem: 'ENVID is not printable ASCII' };
  }
  if (envid !== undefined && encodeXtext(envid).length > ENVID_MAX) {
    return { ok: false, problem: `ENVID longer than ${ENVID_MAX} characters` };
  }
  const value: EnvelopeDsn = {
    ...(ret === 'FULL' || ret === 'HDRS' ? { ret } : {}),
    ...(envid ? { envid } : {}),
  };
  return { ok: true, value: Object.keys(value).length > 0 ? value : undefined };
}

/** NOTIFY and ORCPT of a RCPT TO, as smtp-server parsed them; no value when it had neither. */
export function recipientDsn(
  dsn: SMTPServerRecipientDSN | undefined,
): Checked<Omit<RecipientDsn, 'rcpt'>> {
  const orcpt = dsn?.orcpt;
  if (orcpt !== undefined && !PRINTABLE.test(orcpt)) {
    return { ok: false, problem: 'ORCPT is not printable ASCII' };
  }
  if (orcpt !== undefined && encodeOrcpt(orcpt).length > ORCPT_MAX) {
    return { ok: false, problem: `ORCPT longer than ${ORCPT_MAX} characters` };
  }
  // A repeated keyword (NOTIFY=FAILURE,FAILURE) says nothing more; it is kept once.
  const notify = dsn?.notify
    ? ([...new Set(dsn.notify)].filter((n) => NOTIFY_VALUES.has(n)) as DsnNotify[])
    : undefined;
  const value = {
    ...(notify && notify.length > 0 ? { notify } : {}),
    ...(orcpt ? { orcpt } : {}),
  };
  return { ok: true, value: Object.keys(value).length > 0 ? value : undefined };
}

/** The DSN parameters of a whole transaction, as the envelope carries them. */
export function transactionDsn(
  mail: EnvelopeDsn | undefined,
  rcpts: readonly { address: string; dsn?: SMTPServerRecipientDSN | undefined }[],
): { dsn?: EnvelopeDsn; rcptDsn?: RecipientDsn[] } {
  const rcptDsn: RecipientDsn[] = [];
  for (const r of rcpts) {
    const checked = recipientDsn(r.dsn);
    if (checked.ok && checked.value) rcptDsn.push({ rcpt: r.address, ...checked.value });
  }
  return { ...(mail ? { dsn: mail } : {}), ...(rcptDsn.length > 0 ? { rcptDsn } : {}) };
}
