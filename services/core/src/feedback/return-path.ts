/**
 * Which mail the pool sends with its own return path, and the return path of one delivery.
 * A return path names one recipient, so mail that takes it is split into one delivery per
 * recipient (the scheduler's queue items); mail from the null sender keeps it (a DSN must
 * never bounce back to anyone).
 */
import type { DsnParameters } from '../contract/messages.ts';
import type { CompiledPool } from '../pool/compile.ts';
import { returnPathAddress } from './token.ts';

/** The domain of an envelope sender, lower case; '' for the null sender. */
export function senderDomain(from: string): string {
  const at = from.lastIndexOf('@');
  return at < 0
    ? ''
    : from
        .slice(at + 1)
        .toLowerCase()
        .replace(/\.$/, '');
}

/** True when mail from `from` is sent with the pool's return path. */
export function usesReturnPath(pool: CompiledPool, from: string): boolean {
  const feedback = pool.feedback;
  if (!feedback || from === '') return false;
  const domain = senderDomain(from);
  return feedback.senderDomains.includes('*') || feedback.senderDomains.includes(domain);
}

/**
 * MAIL FROM of a delivery of message `id` to its only recipient; undefined: keep `from`.
 * A recipient that asked for success or delay reports (NOTIFY=SUCCESS or DELAY, passed on
 * to a next hop that offers DSN) keeps the client's sender too: those reports are the
 * client's to receive, and the relay would only count them.
 */
export function returnPathFor(
  pool: CompiledPool,
  delivery: { id: string; from: string; rcpts: readonly string[] } & DsnParameters,
): string | undefined {
  const feedback = pool.feedback;
  const [rcpt, ...more] = delivery.rcpts;
  if (!feedback || rcpt === undefined || more.length > 0) return undefined;
  if (!usesReturnPath(pool, delivery.from)) return undefined;
  const wantsReports = delivery.rcptDsn?.some((r) =>
    r.notify?.some((n) => n === 'SUCCESS' || n === 'DELAY'),
  );
  if (wantsReports) return undefined;
  return returnPathAddress({
    key: Buffer.from(feedback.signingKey, 'base64'),
    pool: pool.key,
    id: delivery.id,
    rcpt,
    bounceDomain: feedback.bounceDomain,
  });
}
