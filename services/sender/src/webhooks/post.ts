/**
 * One HTTPS POST of a webhook batch. Certificates are always verified: a private CA is
 * trusted by adding it (HIKYAKU_WEBHOOK_CA_FILE), never by turning verification off.
 */
import { request } from 'node:https';

/** Why a POST did not deliver its batch: a bounded set, used as a metric label. */
export type PostFailureReason =
  | 'http_4xx'
  | 'http_5xx'
  | 'http_other'
  | 'timeout'
  | 'tls'
  | 'connection'
  | 'secret';

export type PostResult =
  | { ok: true; status: number }
  | { ok: false; reason: PostFailureReason; detail: string };

/** Node's TLS errors that mean the endpoint's certificate or handshake was refused. */
function isTlsError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME/.test(code)
  );
}

export function postBatch(options: {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** Replaces Node's default store when given: callers pass it plus the extra CA. */
  ca?: string[];
  timeoutMs: number;
}): Promise<PostResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: PostResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const req = request(
      options.url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(options.body)),
          'user-agent': 'hikyaku-webhooks/1',
          ...options.headers,
        },
        ...(options.ca ? { ca: options.ca } : {}),
        // A fresh connection per batch: batches are seconds apart at most rates, and no
        // socket is left for shutdown to wait on.
        agent: false,
        timeout: options.timeoutMs,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        // The reply body is read (up to a bound) only to free the socket.
        let read = 0;
        let text = '';
        res.on('data', (chunk: Buffer) => {
          if (read < 512) text += chunk.toString('utf8', 0, Math.min(chunk.length, 512 - read));
          read += chunk.length;
        });
        res.on('end', () => {
          if (status >= 200 && status < 300) done({ ok: true, status });
          else {
            const reason = status >= 500 ? 'http_5xx' : status >= 400 ? 'http_4xx' : 'http_other';
            done({ ok: false, reason, detail: `HTTP ${status} ${text.trim().slice(0, 200)}` });
          }
        });
        res.on('error', (err) => done({ ok: false, reason: 'connection', detail: err.message }));
      },
    );
    req.on('timeout', () => {
      done({ ok: false, reason: 'timeout', detail: `no answer within ${options.timeoutMs} ms` });
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      done({
        ok: false,
        reason: isTlsError(err) ? 'tls' : 'connection',
        detail: `${err.code ?? ''} ${err.message}`.trim(),
      });
    });
    req.end(options.body);
  });
}
