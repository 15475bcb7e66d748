/**
 * One delivery attempt of a job: try the next hops in order (the next one only when a hop
 * could not be reached or greeted with a 4xx), and end with exactly one outcome per
 * recipient. Connection failures and timeouts become deferrals, never losses.
 */
import type { Job, RecipientOutcome } from '../../core/src/index.ts';
import { parseReply, remoteQueueId } from './reply.ts';
import type { TransportCache, TransportKey } from './transports.ts';

export interface NextHopCandidate {
  host: string;
  port: number;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  rejectedErrors?: SmtpError[];
  recipient?: string;
}

interface SentInfo {
  accepted?: (string | { address: string })[];
  rejected?: (string | { address: string })[];
  rejectedErrors?: SmtpError[];
  response?: string;
}

function addressOf(a: string | { address: string }): string {
  return typeof a === 'string' ? a : a.address;
}

/** True when another MX host should be tried: the host was unreachable or greeted 4xx. */
function tryNextHop(err: SmtpError): boolean {
  if (err.responseCode === undefined) return true;
  return err.command === 'CONN' && err.responseCode >= 400 && err.responseCode < 500;
}

function outcomesFromError(job: Job, err: SmtpError, host: string): RecipientOutcome[] {
  const perRcpt = new Map<string, SmtpError>();
  for (const e of err.rejectedErrors ?? []) if (e.recipient) perRcpt.set(e.recipient, e);
  return job.rcpts.map((rcpt) => {
    const e = perRcpt.get(rcpt) ?? err;
    if (e.responseCode === undefined) {
      return {
        rcpt,
        status: 'deferred',
        code: 451,
        enhanced: '4.4.1',
        text: `4.4.1 ${host}: ${e.message}`,
        remoteHost: host,
        ...(e.code ? { errorCode: e.code } : {}),
      };
    }
    const reply = parseReply(e.response, e.responseCode);
    return {
      rcpt,
      status: reply.code >= 500 ? 'failed' : 'deferred',
      code: reply.code,
      ...(reply.enhanced ? { enhanced: reply.enhanced } : {}),
      text: reply.text,
      remoteHost: host,
    };
  });
}

export async function deliverJob(input: {
  job: Job;
  body: Uint8Array;
  hops: NextHopCandidate[];
  transports: TransportCache;
  transportFor: (hop: NextHopCandidate) => TransportKey;
}): Promise<RecipientOutcome[]> {
  const { job, body } = input;
  let last: RecipientOutcome[] | undefined;
  for (const hop of input.hops) {
    const transport = input.transports.get(input.transportFor(hop));
    try {
      const info = (await transport.sendMail({
        envelope: { from: job.from, to: job.rcpts },
        raw: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      })) as SentInfo;
      const accepted = new Set((info.accepted ?? []).map(addressOf));
      const rejected = new Map<string, SmtpError>();
      for (const e of info.rejectedErrors ?? []) if (e.recipient) rejected.set(e.recipient, e);
      const reply = parseReply(info.response, 250);
      const queueId = remoteQueueId(info.response);
      return job.rcpts.map((rcpt): RecipientOutcome => {
        const refusal = rejected.get(rcpt);
        if (refusal || !accepted.has(rcpt)) {
          const r = parseReply(refusal?.response, refusal?.responseCode ?? 550);
          return {
            rcpt,
            status: r.code >= 500 ? 'failed' : 'deferred',
            code: r.code,
            ...(r.enhanced ? { enhanced: r.enhanced } : {}),
            text: r.text,
            remoteHost: hop.host,
          };
        }
        return {
          rcpt,
          status: 'delivered',
          code: reply.code,
          ...(reply.enhanced ? { enhanced: reply.enhanced } : {}),
          text: reply.text,
          remoteHost: hop.host,
          ...(queueId ? { remoteQueueId: queueId } : {}),
        };
      });
    } catch (error) {
      const err = error as SmtpError;
      last = outcomesFromError(job, err, hop.host);
      if (!tryNextHop(err)) return last;
    }
  }
  return (
    last ??
    job.rcpts.map((rcpt) => ({
      rcpt,
      status: 'deferred' as const,
      code: 451,
      enhanced: '4.4.4',
      text: '4.4.4 No route to the destination',
    }))
  );
}
