/**
 * Fetching a domain's MTA-STS policy file (RFC 8461 §3.3): GET
 * https://mta-sts.<domain>/.well-known/mta-sts.txt, the host name resolved through the
 * sender's own DNS client (the one routing uses, so HIKYAKU_DNS_SERVERS applies), SNI and
 * certificate checked for that name, no redirects, HTTP 200 with text/plain only, and the
 * body read up to a size limit within a time limit. Anything else is a fetch failure.
 */
import type { LookupAddress } from 'node:dns';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { HikyakuError } from '@hikyaku/core';
import type { DnsAnswer, DnsClient } from '../routing/dns-client.ts';

export const POLICY_PATH = '/.well-known/mta-sts.txt';
/** RFC 8461 §3.3 suggests a limit "such as 64 kilobytes" on the policy's size. */
export const POLICY_MAX_BYTES = 64 * 1024;

export interface PolicyFetchOptions {
  /** Resolves the policy host; its A and AAAA records are asked. */
  dns: Pick<DnsClient, 'a' | 'aaaa'>;
  /** 443; tests point it at their own HTTPS server. */
  port: number;
  /** Bounds the whole fetch: resolving, connecting, the handshake and the body. */
  timeoutMs: number;
  /** Trusted CAs in PEM (the default store plus any extra one); absent: Node's default store. */
  ca?: readonly string[];
  maxBytes?: number;
}

export class PolicyFetchError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_MTA_STS_FETCH_FAILED', message, options);
    this.name = 'PolicyFetchError';
  }
}

function recordsOf(answer: PromiseSettledResult<DnsAnswer<string>>): string[] {
  return answer.status === 'fulfilled' && answer.value.kind === 'records'
    ? answer.value.records
    : [];
}

async function addressesOf(dns: PolicyFetchOptions['dns'], host: string): Promise<LookupAddress[]> {
  const [a, aaaa] = await Promise.allSettled([dns.a(host), dns.aaaa(host)]);
  const found = [
    ...recordsOf(a).map((address) => ({ address, family: 4 })),
    ...recordsOf(aaaa).map((address) => ({ address, family: 6 })),
  ];
  if (found.length > 0) return found;
  const failure = [a, aaaa].find((r) => r.status === 'rejected');
  throw Object.assign(new Error(`${host} has no address`), {
    code: 'ENOTFOUND',
    ...(failure ? { cause: failure.reason } : {}),
  });
}

/** The policy file's text; rejects with a PolicyFetchError saying what went wrong. */
export function fetchPolicyText(domain: string, options: PolicyFetchOptions): Promise<string> {
  const host = `mta-sts.${domain}`;
  const maxBytes = options.maxBytes ?? POLICY_MAX_BYTES;
  const where = `https://${host}${options.port === 443 ? '' : `:${options.port}`}${POLICY_PATH}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, text?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(
          err instanceof PolicyFetchError
            ? err
            : new PolicyFetchError(`fetching ${where}: ${err.message}`, { cause: err }),
        );
      } else {
        resolve(text as string);
      }
    };
    const req = request({
      host,
      servername: host,
      port: options.port,
      path: POLICY_PATH,
      method: 'GET',
      // A fresh connection per fetch: fetches are rare, and a kept-alive socket would outlive
      // the sender's shutdown.
      agent: false,
      rejectUnauthorized: true,
      ...(options.ca ? { ca: [...options.ca] } : {}),
      headers: { accept: 'text/plain' },
      // Node asks with `all: true` when it races IPv4 and IPv6 (autoSelectFamily), else for
      // one address.
      lookup: ((hostname: string, opts: { all?: boolean }, callback: LookupCallback) => {
        addressesOf(options.dns, hostname).then(
          (list) => {
            const first = list[0] as LookupAddress;
            if (opts.all) callback(null, list);
            else callback(null, first.address, first.family);
          },
          (err: Error) => callback(err, ''),
        );
      }) as never,
    });
    const timer = setTimeout(
      () =>
        finish(new PolicyFetchError(`fetching ${where} timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    req.on('error', (err) => finish(err));
    req.on('response', (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        const redirect =
          res.statusCode !== undefined && res.statusCode >= 300 && res.statusCode < 400;
        res.resume();
        finish(
          new PolicyFetchError(
            `${where} answered HTTP ${res.statusCode}${redirect ? ' (redirects are not followed)' : ''}`,
          ),
        );
        return;
      }
      const type = res.headers['content-type'] ?? '';
      if (!/^text\/plain\s*(;|$)/i.test(type)) {
        res.resume();
        finish(new PolicyFetchError(`${where} is served as "${type}", not text/plain`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > maxBytes) {
          finish(new PolicyFetchError(`${where} is larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, Buffer.concat(chunks).toString('utf8')));
      res.on('error', (err) => finish(err));
      res.on('close', () => {
        if (!res.complete) finish(new PolicyFetchError(`${where}: connection lost mid-body`));
      });
    });
    req.end();
  });
}

type LookupCallback = (
  err: Error | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
