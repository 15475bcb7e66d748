/**
 * An HTTP proxy in front of the API stand-in that can go silent on watches: while `silent`
 * is set, a watch stream it opens gets its headers and then nothing, not even its end,
 * which is what a client sees over a half-open connection. Other requests pass through.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SilentProxy {
  url: string;
  silent: boolean;
  /** Watch streams held silent so far. */
  silenced(): number;
  stop(): Promise<void>;
}

export async function startSilentProxy(target: string): Promise<SilentProxy> {
  const upstream = new URL(target);
  let silenced = 0;
  const proxy: SilentProxy = {
    url: '',
    silent: false,
    silenced: () => silenced,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', target);
    const isWatch = url.searchParams.get('watch') === 'true';
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (isWatch && proxy.silent) {
          silenced += 1;
          res.flushHeaders();
          answer.resume();
          return;
        }
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
