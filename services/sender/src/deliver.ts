/**
 * One delivery attempt of a job over a resolved route: the recipients in transactions of at
 * most the policy's recipients-per-message, each transaction at the route's first address
 * that takes it (the next one only when a host cannot be reached, greets with 4xx or lacks
 * required TLS), over a pooled connection. Ends with exactly one outcome per recipient, or
 * throws HandBackError when the sender is draining before any recipient got one, so that the
 * job goes back to JetStream whole.
 */
import type { Job, RecipientOutcome } from '../../core/src/index.ts';
import type { Connections, SourceIp } from './connections.ts';
import { HandBackError, TlsRequiredError } from './errors.ts';
import type { SendLimits } from './limits.ts';
import { outcomesForFailure, outcomesForSend, shouldTryNextTarget } from './outcomes.ts';
import type { Route } from './routing/resolver.ts';
import { type Target, tryTargets } from './routing/targets.ts';
import type { SmtpFailure, TlsInfo } from './smtp-session.ts';

/** Addresses tried per transaction at most, however many a route lists. */
export const MAX_TARGETS = 10;
/** Fresh connections tried after a reused one turned out to have been dropped by the server. */
const STALE_RETRIES = 2;

export interface TransactionRecord {
  target: Target;
  seconds: number;
  tls: TlsInfo | undefined;
}

export interface DeliveryInput {
  job: Pick<Job, 'from' | 'rcpts' | 'dsn' | 'rcptDsn'>;
  source: SourceIp;
  /** The message as it goes out (signed). */
  message: Buffer;
  route: Route;
  limits: SendLimits;
  connections: Connections;
  signal: AbortSignal;
  now: () => number;
  /** Called after every transaction that got a reply to its final dot. */
  onTransaction?: (record: TransactionRecord) => void;
}

export interface DeliveryReport {
  outcomes: RecipientOutcome[];
  /** TLS of the last transaction that got through; absent when it went in clear text. */
  tls?: TlsInfo;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += Math.max(1, size)) {
    chunks.push(items.slice(i, i + Math.max(1, size)));
  }
  return chunks;
}

interface TransactionResult {
  outcomes: RecipientOutcome[];
  tls: TlsInfo | undefined;
}

/** A dropped idle connection fails before any reply; nothing was sent, so a fresh one may try. */
function droppedWhileIdle(err: unknown): boolean {
  const f = err as Partial<SmtpFailure>;
  return f.phase === 'envelope' && f.responseCode === undefined && f.code !== 'ETIMEDOUT';
}

async function transaction(
  input: DeliveryInput,
  target: Target,
  rcpts: string[],
): Promise<TransactionResult> {
  const { connections, limits, signal } = input;
  for (let retry = 0; ; retry++) {
    const lease = await connections.acquire(input.source, target, limits, signal);
    const session = lease.resource;
    if (limits.tls === 'required' && !session.tls) {
      // The connection may serve opportunistic mail; this host simply lacks TLS.
      lease.release({ used: false, reusable: true });
      throw new TlsRequiredError(target.host, limits.policy);
    }
    const started = input.now();
    try {
      const { dsn, rcptDsn } = input.job;
      const result = await session.send(
        {
          from: input.job.from,
          to: rcpts,
          ...(dsn ? { dsn } : {}),
          ...(rcptDsn ? { rcptDsn } : {}),
        },
        input.message,
        signal,
      );
      lease.release({ used: true, reusable: true });
      input.onTransaction?.({ target, seconds: (input.now() - started) / 1000, tls: session.tls });
      return {
        outcomes: outcomesForSend(rcpts, result, target.host, session.dsn),
        tls: session.tls,
      };
    } catch (err) {
      let reusable = false;
      if (session.usable && !signal.aborted) {
        // The receiver refused the transaction; RSET makes the connection fit for the next.
        reusable = await session.reset().then(
          () => true,
          () => false,
        );
      }
      lease.release({ used: true, reusable });
      if (lease.uses > 0 && retry < STALE_RETRIES && !signal.aborted && droppedWhileIdle(err)) {
        continue;
      }
      throw err;
    }
  }
}

export async function deliverMessage(input: DeliveryInput): Promise<DeliveryReport> {
  const outcomes: RecipientOutcome[] = [];
  let tls: TlsInfo | undefined;
  for (const rcpts of chunk(input.job.rcpts, input.limits.recipientsPerMessage)) {
    let place: Target | undefined;
    try {
      const result = await tryTargets(
        input.route,
        (target) => {
          place = target;
          return transaction(input, target, rcpts);
        },
        { tryNext: shouldTryNextTarget, maxTargets: MAX_TARGETS },
      );
      outcomes.push(...result.outcomes);
      tls = result.tls;
    } catch (error) {
      const err = input.signal.aborted ? input.signal.reason : error;
      // Nothing was decided yet: the whole job goes back. Otherwise the recipients decided
      // so far stand, and the rest wait for the retry.
      if (err instanceof HandBackError && outcomes.length === 0) throw err;
      outcomes.push(...outcomesForFailure(rcpts, err, place));
    }
  }
  return tls ? { outcomes, tls } : { outcomes };
}
