/**
 * Waiting for JetStream to take API requests, and telling a passing state of the cluster
 * (no metadata leader yet, a leader being elected) from a setting it will never accept.
 *
 * A just-formed nats-server cluster answers nothing to JetStream API requests until it has
 * elected its metadata leader, and on nats-server 2.9 that leadership can change hands once
 * or twice in the first seconds: a request sent meanwhile is not refused, it goes
 * unanswered until its timeout. So set-up probes with short requests and retries those
 * silences, while an error the server does answer with (a setting it rejects) stops the
 * service at once. One answer is both: "no suitable peers for placement" comes from a
 * cluster whose servers have not all joined yet (the relay's pods and the NATS servers
 * start together) as from a cluster smaller than the replicas asked for; stream set-up
 * waits for servers to join (isPlacementError) and gives up at its deadline.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import {
  type NatsConnection,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { JetStreamUnavailableError } from './errors.ts';
import type { Logger } from './log.ts';

/** How long set-up waits for JetStream before the service gives up (and is restarted). */
export const JETSTREAM_READY_TIMEOUT_MS = 120_000;
/** A probe's own timeout: short, since an unanswered probe only means "not yet". */
const PROBE_TIMEOUT_MS = 2000;
const RETRY_DELAY_MS = 1000;

/** JetStream's "temporarily unavailable": the cluster has no metadata leader right now. */
const CLUSTER_NOT_AVAILABLE = 10008;

/**
 * Whether an API request failed only because the cluster could not answer at that moment
 * (no metadata or stream leader, a node restarting), so that the same request may succeed
 * if sent again.
 */
export function isPassingJetStreamError(err: unknown): boolean {
  if (err instanceof TimeoutError || err instanceof NoRespondersError) return true;
  if (err instanceof RequestError) return isPassingJetStreamError(err.cause);
  if (err instanceof JetStreamApiError) return err.code === CLUSTER_NOT_AVAILABLE;
  return false;
}

/** JetStream's "no suitable peers for placement": fewer servers than replicas asked for. */
const NO_PEERS_FOR_PLACEMENT = 10005;

/**
 * Whether a stream could not be created or updated for want of servers to place its
 * replicas on: until more servers join the cluster, the same request is refused again.
 */
export function isPlacementError(err: unknown): boolean {
  if (err instanceof RequestError) return isPlacementError(err.cause);
  return err instanceof JetStreamApiError && err.code === NO_PEERS_FOR_PLACEMENT;
}

/** Whether JetStream answered that what was asked for (a stream, a consumer) does not exist. */
export function isNotFoundError(err: unknown): boolean {
  return /not found/i.test(String((err as Error)?.message ?? err));
}

/**
 * Whether a write expecting a last sequence (a KV create or update at a revision) was
 * refused because someone wrote first: the caller reads again instead of failing.
 */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Why a request failed, in words for a log line. */
export function describeJetStreamError(err: unknown): string {
  if (err instanceof TimeoutError) return 'no answer (no metadata leader yet?)';
  if (err instanceof JetStreamApiError) {
    const api = err.apiError();
    return `${api.description} (JetStream error ${api.err_code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves once JetStream answers an account information request; logs each attempt that
 * found it not answering, and rejects with JetStreamUnavailableError after `timeoutMs`.
 */
export async function waitForJetStream(
  nc: NatsConnection,
  options: { log?: Logger; timeoutMs?: number; probeTimeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? JETSTREAM_READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const probe = await jetstreamManager(nc, {
    timeout: options.probeTimeoutMs ?? PROBE_TIMEOUT_MS,
    checkAPI: false,
  });
  for (let attempt = 1; ; attempt++) {
    try {
      await probe.getAccountInfo();
      if (attempt > 1) options.log?.info({ attempt }, 'jetstream answering');
      return;
    } catch (err) {
      if (!isPassingJetStreamError(err)) {
        throw new JetStreamUnavailableError(`JetStream refused: ${describeJetStreamError(err)}`, {
          cause: err,
        });
      }
      if (Date.now() + RETRY_DELAY_MS > deadline) {
        throw new JetStreamUnavailableError(
          `JetStream did not answer within ${timeoutMs} ms: ${describeJetStreamError(err)}`,
          { cause: err },
        );
      }
      options.log?.warn(
        { attempt, reason: describeJetStreamError(err) },
        'jetstream not answering yet (a cluster without a metadata leader); retrying',
      );
      await sleep(RETRY_DELAY_MS);
    }
  }
}
