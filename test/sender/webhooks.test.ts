/**
 * Webhooks against a real HTTPS receiver on loopback, with a certificate made for the test
 * and trusted through HIKYAKU_WEBHOOK_CA_FILE: batches are signed over timestamp and body,
 * bounded in size, retried while the receiver fails or is down, and no event is lost; an
 * event past its maximum age is given up and counted; an endpoint whose certificate the
 * senders do not trust gets nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  codecs,
  type DeliveryEvent,
  METRICS,
  NO_DIGEST,
  SUBJECTS,
  traceDigest,
  verifyWebhookSignature,
} from '@hikyaku/core';
import { freePort, waitFor } from '@hikyaku/testing';
import { type Received, WebhookReceiver } from '../harness/webhook-receiver.ts';
import { makeCertificate } from '../ingress/certs.ts';
import { metricValue, type SenderFixture, startSenderFixture } from './harness.ts';

const SECRET = 'whsec-test-7f3a9c';

describe('webhooks', () => {
  let dir: string;
  let receiver: WebhookReceiver;
  let impostor: WebhookReceiver;
  let fixture: SenderFixture;
  let seq = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-webhooks-'));
    const cert = makeCertificate(dir, 'hooks');
    const secretFile = join(dir, 'hook.secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    receiver = new WebhookReceiver(cert, await freePort(), SECRET);
    await receiver.start();
    const nobody = await freePort();
    // Same names, another self-signed certificate: one the senders were not told to trust.
    impostor = new WebhookReceiver(makeCertificate(dir, 'impostor'), await freePort(), SECRET);
    await impostor.start();
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
            name: 'impostor',
            url: `https://127.0.0.1:${impostor.port}/hooks`,
            events: ['suppressed'],
            secretFile,
            maxAge: '3s',
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
    await impostor?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Publishes events in the keyed form, or in the form schedulers wrote before it. */
  async function publish(
    type: DeliveryEvent['type'],
    count: number,
    form: 'keyed' | 'first' = 'keyed',
  ): Promise<string[]> {
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
      const subject =
        form === 'first'
          ? SUBJECTS.event(fixture.pool.key, type)
          : SUBJECTS.deliveryEvent(
              fixture.pool.key,
              event.id,
              traceDigest('rcpt', rcpt),
              NO_DIGEST,
              type,
            );
      await fixture.admin.js.publish(subject, codecs.event.encode(event));
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
    // A queue action shares the pool's subjects and is never sent.
    await fixture.admin.js.publish(
      SUBJECTS.queueAction(fixture.pool.key, 'held'),
      codecs.queueAction.encode({
        v: 1,
        type: 'held',
        pool: fixture.pool.key,
        domain: 'x.test',
        at: 1,
      }),
    );
    const wanted = [
      ...(await publish('delivered', 6)),
      // Written by a scheduler of the version before the keyed subjects, during an upgrade.
      ...(await publish('delivered', 2, 'first')),
      ...(await publish('bounced', 4)),
    ];
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

  it('verifies the endpoint certificate: one the senders do not trust gets nothing', async () => {
    await publish('suppressed', 2);
    await waitFor(
      'a TLS failure',
      async () =>
        (await metric(METRICS.webhookFailures, { webhook: 'impostor', reason: 'tls' })) >= 1,
    );
    assert.equal(impostor.requests.length, 0);
  });
});
