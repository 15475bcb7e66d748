/**
 * Webhooks against a real HTTPS receiver on loopback, with a certificate made for the test
 * and trusted through HIKYAKU_WEBHOOK_CA_FILE: batches are signed over timestamp and body,
 * bounded in size, retried while the receiver fails or is down, and no event is lost; an
 * event past its maximum age is given up and counted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  codecs,
  type DeliveryEvent,
  METRICS,
  SUBJECTS,
  verifyWebhookSignature,
  WEBHOOK_HEADERS,
  type WebhookBatch,
} from '@hikyaku/core';
import { freePort, waitFor } from '@hikyaku/testing';
import { makeCertificate, type TestCertificate } from '../ingress/certs.ts';
import { metricValue, type SenderFixture, startSenderFixture } from './harness.ts';

const SECRET = 'whsec-test-7f3a9c';

interface Received {
  batch: WebhookBatch;
  /** Why the signature or timestamp is refused; undefined when both are good. */
  refused: string | undefined;
  status: number;
  body: Buffer;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** A webhook endpoint: verifies each request as a receiver should, answers as told. */
class Receiver {
  readonly requests: Received[] = [];
  answer = 200;
  private server: Server | undefined;

  constructor(
    private readonly cert: TestCertificate,
    readonly port: number,
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
          secret: SECRET,
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

describe('webhooks', () => {
  let dir: string;
  let receiver: Receiver;
  let fixture: SenderFixture;
  let seq = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-webhooks-'));
    const cert = makeCertificate(dir, 'hooks');
    const secretFile = join(dir, 'hook.secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    receiver = new Receiver(cert, await freePort());
    await receiver.start();
    const nobody = await freePort();
    fixture = await startSenderFixture({
      spec: {
        webhooks: [
          {
            name: 'ops',
            url: `https://127.0.0.1:${receiver.port}/hooks`,
            events: ['delivered', 'deferred', 'bounced'],
            secretFile,
            maxBatchEvents: 5,
            maxBatchWait: '1s',
          },
          {
            name: 'lost',
            url: `https://127.0.0.1:${nobody}/hooks`,
            events: ['expired'],
            secretFile,
            maxAge: '3s',
          },
        ],
      },
      env: {
        HIKYAKU_WEBHOOK_CA_FILE: cert.certFile,
        HIKYAKU_WEBHOOK_MAX_BACKOFF_MS: '2000',
        HIKYAKU_WEBHOOK_TIMEOUT_MS: '5000',
      },
    });
  });

  after(async () => {
    await fixture?.stop();
    await receiver?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function publish(type: DeliveryEvent['type'], count: number): Promise<string[]> {
    const rcpts: string[] = [];
    for (let i = 0; i < count; i++) {
      seq++;
      const rcpt = `user${seq}@example.test`;
      rcpts.push(rcpt);
      const event: DeliveryEvent = {
        v: 1,
        type,
        id: `Q${seq}`,
        pool: fixture.pool.key,
        rcpt,
        at: Date.now(),
        ip: '127.0.0.2',
        attempt: 0,
        reply: { code: 250, enhanced: '2.0.0', text: 'Ok: queued' },
      };
      await fixture.admin.js.publish(
        SUBJECTS.event(fixture.pool.key, type),
        codecs.event.encode(event),
      );
    }
    return rcpts;
  }

  async function metric(name: string, labels: Record<string, string>): Promise<number> {
    return metricValue(await fixture.metrics(), name, labels) ?? 0;
  }

  it('POSTs the subscribed events in signed batches of at most maxBatchEvents', async () => {
    const from = receiver.requests.length;
    // Types the webhook did not ask for come first: they are skipped, not sent.
    await publish('accepted', 2);
    const wanted = [...(await publish('delivered', 8)), ...(await publish('bounced', 4))];
    await waitFor('12 events at the receiver', () =>
      wanted.every((r) => receiver.taken().includes(r)),
    );
    const requests = receiver.requests.slice(from);
    assert.deepEqual(
      requests.map((r) => r.refused),
      requests.map(() => undefined),
      'every request carries a good signature and a fresh timestamp',
    );
    const events = requests.flatMap((r) => r.batch.events);
    assert.deepEqual(events.map((e) => e.rcpt).sort(), [...wanted].sort());
    assert.ok(events.every((e) => e.type === 'delivered' || e.type === 'bounced'));
    assert.ok(requests.every((r) => r.batch.events.length <= 5));
    assert.ok(
      requests.some((r) => r.batch.events.length > 1),
      'events that come together go in one batch',
    );
    assert.equal(new Set(events.map((e) => e.eventId)).size, events.length);
    assert.ok(
      requests.every((r) => r.batch.webhook === 'ops' && r.batch.pool === fixture.pool.key),
    );
    // The signature binds secret, timestamp and body: change any and it fails.
    const one = requests[0] as Received;
    const check = { ...one, secret: SECRET, nowS: Math.floor(Date.now() / 1000), toleranceS: 300 };
    assert.equal(verifyWebhookSignature({ ...check, secret: 'another' }), 'signature mismatch');
    assert.equal(
      verifyWebhookSignature({ ...check, body: Buffer.concat([one.body, Buffer.from(' ')]) }),
      'signature mismatch',
    );
    assert.equal(
      verifyWebhookSignature({ ...check, timestamp: String(Number(one.timestamp) - 1) }),
      'signature mismatch',
    );
    assert.equal(
      verifyWebhookSignature({ ...check, nowS: Number(one.timestamp) + 301 }),
      'timestamp out of tolerance',
    );
    await waitFor(
      'the delivered events counted',
      async () => (await metric(METRICS.webhookEvents, { webhook: 'ops' })) >= 12,
    );
  });

  it('retries while the receiver answers 500 and while it is down, and loses nothing', async () => {
    const from = receiver.requests.length;
    receiver.answer = 500;
    const first = await publish('deferred', 5);
    await waitFor(
      'two failed tries of the batch',
      () => receiver.requests.slice(from).filter((r) => r.status === 500).length >= 2,
    );
    await receiver.stop();
    const second = await publish('delivered', 5);
    await waitFor(
      'a connection failure',
      async () =>
        (await metric(METRICS.webhookFailures, { webhook: 'ops', reason: 'connection' })) >= 1,
    );
    receiver.answer = 200;
    await receiver.start();
    await waitFor(
      'every event at the receiver once it is back',
      () => [...first, ...second].every((r) => receiver.taken().includes(r)),
      { timeoutMs: 60_000 },
    );
    const failed = receiver.requests.slice(from).filter((r) => r.status === 500);
    // A batch tried again is the same batch: same id and events, signed anew.
    const retried = failed[0]?.batch;
    assert.ok(retried);
    assert.ok(
      receiver.requests.some((r) => r.status === 200 && r.batch.batch === retried.batch),
      'the batch refused with 500 is the one taken later',
    );
    assert.ok((await metric(METRICS.webhookFailures, { webhook: 'ops', reason: 'http_5xx' })) >= 2);
    assert.equal(await metric(METRICS.webhookDropped, { webhook: 'ops' }), 0);
  });

  it('gives up an event past its maximum age and counts it', async () => {
    await publish('expired', 3);
    await waitFor(
      'three events dropped',
      async () => (await metric(METRICS.webhookDropped, { webhook: 'lost' })) === 3,
      { timeoutMs: 60_000 },
    );
    assert.ok(
      (await metric(METRICS.webhookFailures, { webhook: 'lost', reason: 'connection' })) >= 1,
    );
    assert.ok(receiver.requests.every((r) => r.batch.webhook === 'ops'));
  });
});
