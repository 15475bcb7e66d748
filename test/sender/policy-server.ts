/**
 * An HTTPS server for MTA-STS policy files on a loopback address, serving whatever each
 * `mta-sts.<domain>` host is given (status, content type, body) and recording every request,
 * so that a test can tell whether a policy was fetched.
 */
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { freePort } from '@hikyaku/testing';

export interface PolicyResponse {
  body: string;
  status?: number;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface PolicyServer {
  readonly host: string;
  readonly port: number;
  /** Host names of the requests received (without the port), in order. */
  readonly requests: string[];
  /** Sets what a policy host serves; undefined: 404. */
  serve(host: string, response: PolicyResponse | undefined): void;
  requestsFor(host: string): number;
  close(): Promise<void>;
}

export async function startPolicyServer(options: {
  host: string;
  port?: number;
  key: Buffer;
  cert: Buffer;
}): Promise<PolicyServer> {
  const responses = new Map<string, PolicyResponse>();
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ key: options.key, cert: options.cert }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    requests.push(host);
    const response = req.url === '/.well-known/mta-sts.txt' ? responses.get(host) : undefined;
    if (!response) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res
      .writeHead(response.status ?? 200, {
        'content-type': response.contentType ?? 'text/plain',
        ...response.headers,
      })
      .end(response.body);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const port = options.port ?? (await freePort(options.host));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, options.host, () => resolve());
  });
  return {
    host: options.host,
    port,
    requests,
    serve(host, response) {
      if (response) responses.set(host.toLowerCase(), response);
      else responses.delete(host.toLowerCase());
    },
    requestsFor: (host) => requests.filter((h) => h === host.toLowerCase()).length,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A policy file's text. */
export function policyText(mode: string, mx: readonly string[], maxAge = 86_400): string {
  return [
    'version: STSv1',
    `mode: ${mode}`,
    ...mx.map((m) => `mx: ${m}`),
    `max_age: ${maxAge}`,
    '',
  ].join('\r\n');
}
