/**
 * A webhook endpoint for tests: a real HTTPS server on loopback with a certificate made for
 * the test. It checks each request as a receiver should (signature over timestamp and body,
 * timestamp within five minutes), records it, and answers as told; it can be stopped (the
 * port refuses connections) and started again on the same port.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { verifyWebhookSignature, WEBHOOK_HEADERS, type WebhookBatch } from '@hikyaku/core';
import type { TestCertificate } from '../ingress/certs.ts';

export interface Received {
  batch: WebhookBatch;
  /** Why the signature or timestamp is refused; undefined when both are good. */
  refused: string | undefined;
  status: number;
  body: Buffer;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** A webhook endpoint: verifies each request as a receiver should, answers as told. */
export class WebhookReceiver {
  readonly requests: Received[] = [];
  answer = 200;
  private server: Server | undefined;

  constructor(
    private readonly cert: TestCertificate,
    readonly port: number,
    private readonly secret: string,
  ) {}

  async start(): Promise<void> {
    const server = createServer({ cert: this.cert.cert, key: this.cert.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const timestamp = req.headers[WEBHOOK_HEADERS.timestamp] as string | undefined;
        const signature = req.headers[WEBHOOK_HEADERS.signature] as string | undefined;
        const refused = verifyWebhookSignature({
          secret: this.secret,
          body,
          timestamp,
          signature,
          nowS: Math.floor(Date.now() / 1000),
          toleranceS: 300,
        });
        const batch = JSON.parse(body.toString('utf8')) as WebhookBatch;
        assert.equal(req.headers[WEBHOOK_HEADERS.batch], batch.batch);
        const status = refused ? 401 : this.answer;
        this.requests.push({ batch, refused, status, body, timestamp, signature });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Down: the port refuses connections until start() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Recipients of the events of the batches it took (answered 2xx). */
  taken(): string[] {
    return this.requests
      .filter((r) => r.status === 200)
      .flatMap((r) => r.batch.events.map((e) => e.rcpt));
  }
}
