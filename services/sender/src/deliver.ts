/**
 * One delivery attempt of a job over a resolved route: the recipients in transactions of at
 * most the policy's recipients-per-message, each transaction at the route's first address
 * that takes it (the next one only when a host cannot be reached, greets with 4xx or lacks
 * required TLS, or does not meet the domain's enforced MTA-STS policy), over a pooled
 * connection. Ends with exactly one outcome per recipient, or throws HandBackError when the
 * sender is draining before any recipient got one, so that the job goes back to JetStream
 * whole.
 */
import type { Job, MtaStsAppliedMode, RecipientOutcome } from '@hikyaku/core';
import type { Connections, SourceIp } from './connections.ts';
import { HandBackError, MtaStsError, TlsRequiredError } from './errors.ts';
import type { SendLimits } from './limits.ts';
import { mxMatches } from './mta-sts/policy.ts';
import { outcomesForFailure, outcomesForSend, shouldTryNextTarget } from './outcomes.ts';
import type { Route } from './routing/resolver.ts';
import { type Target, tryTargets } from './routing/targets.ts';
import type { SmtpFailure, SmtpSession, TlsInfo } from './smtp-session.ts';

/** Addresses tried per transaction at most, however many a route lists. */
export const MAX_TARGETS = 10;
/** Fresh connections tried after a reused one turned out to have been dropped by the server. */
const STALE_RETRIES = 2;

export interface TransactionRecord {
  target: Target;
  seconds: number;
  tls: TlsInfo | undefined;
}

/** The recipient domain's MTA-STS policy, when one in enforce or testing mode applies. */
export interface MtaStsCheck {
  mode: MtaStsAppliedMode;
  /** The policy's MX patterns. */
  mx: readonly string[];
}

/**
 * What MTA-STS did in one attempt, one entry per event: `validated` (a transaction went
 * through a host that meets the policy), `mx_skipped` (enforce: a host that does not was
 * passed over), `failed` (enforce: no host qualified, the recipients wait), `would_fail`
 * (testing: a transaction went through a host enforce would have refused).
 */
export type MtaStsResult = 'validated' | 'mx_skipped' | 'failed' | 'would_fail';

export interface MtaStsReport {
  mode: MtaStsAppliedMode;
  results: MtaStsResult[];
  /** Hosts that do not meet the policy, and why, for the log. */
  refused: Array<{ host: string; reason: string }>;
}

export interface DeliveryInput {
  job: Pick<Job, 'delivery' | 'returnPath'>;
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
  /** The domain's MTA-STS policy (MX routes only). */
  mtaSts?: MtaStsCheck;
}

export interface DeliveryReport {
  outcomes: RecipientOutcome[];
  /** TLS of the last transaction that got through; absent when it went in clear text. */
  tls?: TlsInfo;
  /** Present when an MTA-STS policy applied. */
  mtaSts?: MtaStsReport;
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

/** Why a session does not meet an MTA-STS policy (RFC 8461 §4.1, §4.2), or undefined. */
function policyProblem(
  session: Pick<SmtpSession, 'tls' | 'certificate'>,
): { problem: 'no-tls' | 'validation'; reason: string } | undefined {
  if (!session.tls) return { problem: 'no-tls', reason: 'did not offer STARTTLS' };
  if (!session.certificate?.verified) {
    const why = session.certificate?.error ?? 'not verified';
    return { problem: 'validation', reason: `certificate does not verify (${why})` };
  }
  return undefined;
}

/** A failed STARTTLS handshake (or a certificate refused during it). */
function tlsSetupFailed(err: unknown): boolean {
  const f = err as Partial<SmtpFailure>;
  return f.phase === 'setup' && f.code === 'ETLS' && f.responseCode === undefined;
}

/** Collects what MTA-STS did during one attempt. */
class MtaStsLog {
  readonly results: MtaStsResult[] = [];
  readonly refused: Array<{ host: string; reason: string }> = [];

  note(result: MtaStsResult, host?: string, reason?: string): void {
    this.results.push(result);
    if (host === undefined || reason === undefined) return;
    // Each transaction of a job walks the hosts again; one log line per host is enough.
    if (!this.refused.some((r) => r.host === host && r.reason === reason)) {
      this.refused.push({ host, reason });
    }
  }
}

async function acquireFor(
  input: DeliveryInput,
  target: Target,
  domain: string,
  stsLog: MtaStsLog | undefined,
) {
  const { connections, limits, signal } = input;
  if (input.mtaSts?.mode !== 'enforce') {
    return connections.acquire(input.source, target, limits, signal);
  }
  try {
    // Enforced MTA-STS rules out the clear-text retry after a failed handshake.
    return await connections.acquire(input.source, target, { ...limits, tls: 'required' }, signal);
  } catch (err) {
    if (!tlsSetupFailed(err)) throw err;
    const reason = `TLS with ${target.host} failed: ${(err as Error).message}`;
    stsLog?.note('mx_skipped', target.host, reason);
    throw new MtaStsError(domain, target.host, reason, 'validation', { cause: err });
  }
}

async function transaction(
  input: DeliveryInput,
  target: Target,
  rcpts: string[],
  stsLog?: MtaStsLog,
): Promise<TransactionResult> {
  const { limits, signal } = input;
  const sts = input.mtaSts;
  const domain = input.route.domain;
  for (let retry = 0; ; retry++) {
    const lease = await acquireFor(input, target, domain, stsLog);
    const session = lease.resource;
    const problem = sts ? policyProblem(session) : undefined;
    if (sts?.mode === 'enforce' && problem) {
      // The connection may still serve mail without a policy.
      lease.release({ used: false, reusable: true });
      const reason = `${target.host} ${problem.reason}`;
      stsLog?.note('mx_skipped', target.host, reason);
      throw new MtaStsError(domain, target.host, reason, problem.problem);
    }
    if (limits.tls === 'required' && !session.tls) {
      // The connection may serve opportunistic mail; this host simply lacks TLS.
      lease.release({ used: false, reusable: true });
      throw new TlsRequiredError(target.host, limits.policy);
    }
    const started = input.now();
    try {
      const { dsn, rcptDsn } = input.job.delivery;
      const result = await session.send(
        {
          // The pool's return path when it has one: reports come back to the relay.
          from: input.job.returnPath ?? input.job.delivery.from,
          to: rcpts,
          ...(dsn ? { dsn } : {}),
          ...(rcptDsn ? { rcptDsn } : {}),
        },
        input.message,
        signal,
      );
      lease.release({ used: true, reusable: true });
      input.onTransaction?.({ target, seconds: (input.now() - started) / 1000, tls: session.tls });
      let outcomes = outcomesForSend(rcpts, result, target.host, session.dsn);
      if (sts) {
        const mismatch = mxMatches(target.host, sts.mx) ? undefined : 'matches no mx pattern';
        const refusal = mismatch ?? problem?.reason;
        if (refusal) stsLog?.note('would_fail', target.host, `${target.host} ${refusal}`);
        else stsLog?.note('validated');
        outcomes = outcomes.map((o) => (o.status === 'delivered' ? { ...o, mtaSts: sts.mode } : o));
      }
      return { outcomes, tls: session.tls };
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

/**
 * The route an enforced MTA-STS policy leaves: only MX hosts its patterns match (§4.1).
 * Hosts passed over are noted; an empty route is an MtaStsError.
 */
function enforcedRoute(input: DeliveryInput, stsLog: MtaStsLog): Route {
  const { route, mtaSts } = input;
  if (mtaSts?.mode !== 'enforce') return route;
  const candidates = route.candidates.filter((c) => mxMatches(c.host, mtaSts.mx));
  for (const c of route.candidates) {
    if (!candidates.includes(c))
      stsLog.note('mx_skipped', c.host, `${c.host} matches no mx pattern`);
  }
  if (candidates.length === 0) {
    const hosts = route.candidates.map((c) => c.host).join(', ');
    throw new MtaStsError(
      route.domain,
      undefined,
      `none of its MX hosts (${hosts}) matches the policy's mx patterns (${mtaSts.mx.join(', ')})`,
      'validation',
    );
  }
  return { ...route, candidates };
}

/** Outcomes of a transaction with the address they came from, for logs and traces. */
function connectedTo(outcomes: RecipientOutcome[], place: Target | undefined): RecipientOutcome[] {
  if (!place) return outcomes;
  return outcomes.map((o) =>
    o.remoteAddress || o.remoteHost !== place.host ? o : { ...o, remoteAddress: place.address },
  );
}

export async function deliverMessage(input: DeliveryInput): Promise<DeliveryReport> {
  const outcomes: RecipientOutcome[] = [];
  let tls: TlsInfo | undefined;
  const stsLog = input.mtaSts ? new MtaStsLog() : undefined;
  let route: Route | undefined;
  let routeError: unknown;
  try {
    route = stsLog ? enforcedRoute(input, stsLog) : input.route;
  } catch (err) {
    routeError = err;
  }
  for (const rcpts of chunk(input.job.delivery.rcpts, input.limits.recipientsPerMessage)) {
    let place: Target | undefined;
    try {
      if (!route) throw routeError;
      const result = await tryTargets(
        route,
        (target) => {
          place = target;
          return transaction(input, target, rcpts, stsLog);
        },
        { tryNext: shouldTryNextTarget, maxTargets: MAX_TARGETS },
      );
      outcomes.push(...connectedTo(result.outcomes, place));
      tls = result.tls;
    } catch (error) {
      const err = input.signal.aborted ? input.signal.reason : error;
      // Nothing was decided yet: the whole job goes back. Otherwise the recipients decided
      // so far stand, and the rest wait for the retry.
      if (err instanceof HandBackError && outcomes.length === 0) throw err;
      const failed = outcomesForFailure(rcpts, err, place);
      if (stsLog && failed.some((o) => o.errorCode === 'HIKYAKU_MTA_STS_FAILED')) {
        stsLog.note('failed');
      }
      outcomes.push(...connectedTo(failed, place));
    }
  }
  const report: DeliveryReport = tls ? { outcomes, tls } : { outcomes };
  if (input.mtaSts && stsLog) {
    report.mtaSts = { mode: input.mtaSts.mode, results: stsLog.results, refused: stsLog.refused };
  }
  return report;
}
