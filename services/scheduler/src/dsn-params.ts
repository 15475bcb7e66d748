/**
 * The DSN parameters (RFC 3461) a message carries along the scheduler's path: cut down to
 * the recipients of each queue item, job and retry, and applied when a report is written —
 * who asked for which report (NOTIFY) and what it quotes back (ORCPT).
 */
import type { DsnParameters } from '@hikyaku/core';
import { type DsnRecipient, notifyWants } from '@hikyaku/core/policy';

/** The parameters that belong to these recipients: the message's own, and theirs. */
export function dsnFor(source: DsnParameters, rcpts: readonly string[]): DsnParameters {
  const wanted = new Set(rcpts);
  const rcptDsn = source.rcptDsn?.filter((r) => wanted.has(r.rcpt));
  return {
    ...(source.dsn ? { dsn: source.dsn } : {}),
    ...(rcptDsn && rcptDsn.length > 0 ? { rcptDsn } : {}),
  };
}

const KIND = { failed: 'FAILURE', delayed: 'DELAY', relayed: 'SUCCESS' } as const;

/**
 * The report rows whose recipient asked for that kind of report (NOTIFY=NEVER: none, no
 * NOTIFY: failures and delays), each with the recipient's ORCPT as Original-Recipient.
 */
export function reportable(source: DsnParameters, rows: readonly DsnRecipient[]): DsnRecipient[] {
  const own = new Map(source.rcptDsn?.map((r) => [r.rcpt, r]));
  const out: DsnRecipient[] = [];
  for (const row of rows) {
    const params = own.get(row.recipient);
    if (!notifyWants(params?.notify, KIND[row.action])) continue;
    out.push(params?.orcpt ? { ...row, originalRecipient: params.orcpt } : row);
  }
  return out;
}
