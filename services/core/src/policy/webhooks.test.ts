import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyWebhookSignature, webhookSignature } from '../contract/webhooks.ts';
import { BadWebhookError } from './errors.ts';
import {
  cutBatches,
  resolveWebhook,
  WEBHOOK_DEFAULTS,
  webhookBackoffMs,
  webhookEventExpired,
} from './webhooks.ts';

const spec = {
  name: 'ops',
  url: 'https://hooks.example.com/in',
  events: ['bounced', 'complained'],
  secretKeyRef: { name: 'hooks', key: 'secret' },
};

describe('resolveWebhook', () => {
  it('fills the defaults and points at the mounted Secret', () => {
    assert.deepEqual(resolveWebhook(spec, 0), {
      name: 'ops',
      url: 'https://hooks.example.com/in',
      events: ['bounced', 'complained'],
      secretFile: '/etc/hikyaku/webhooks/hooks/secret',
      maxBatchEvents: WEBHOOK_DEFAULTS.maxBatchEvents,
      maxBatchBytes: WEBHOOK_DEFAULTS.maxBatchBytes,
      maxBatchWaitMs: 2000,
      maxAgeMs: 24 * 3600_000,
    });
  });

  it('reads a local secretFile relative to the pool file', () => {
    const local = { ...spec, secretKeyRef: undefined, secretFile: 'hook.secret' };
    assert.equal(
      resolveWebhook(local, 0, { fileDir: '/srv/pools' }).secretFile,
      '/srv/pools/hook.secret',
    );
    assert.equal(
      resolveWebhook({ ...local, secretFile: '/abs/s' }, 0, { fileDir: '/srv' }).secretFile,
      '/abs/s',
    );
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['plain http', { url: 'http://hooks.example.com/' }, /webhooks\[0\]\.url must be an https/],
    ['no URL', { url: 'hooks' }, /is not a URL/],
    ['an unknown event type', { events: ['opened'] }, /"opened" is not one of/],
    ['no secret', { secretKeyRef: undefined }, /needs secretKeyRef/],
    ['a wait under 1s', { maxBatchWait: '500ms' }, /maxBatchWait must be between 1s and 1m/],
    ['a maximum age past the retention', { maxAge: '8d' }, /maxAge must be between 1s and 7d/],
  ];
  for (const [what, change, message] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      assert.throws(
        () => resolveWebhook({ ...spec, ...change } as typeof spec, 0),
        (err: unknown) => err instanceof BadWebhookError && message.test(err.message),
      );
    });
  }
});

describe('webhook retries', () => {
  it('doubles the wait from 1 s up to 5 min', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 9, 10, 50].map((n) => webhookBackoffMs(n)),
      [1000, 2000, 4000, 8000, 256_000, 300_000, 300_000],
    );
  });

  it('gives an event up once it is older than the maximum age', () => {
    assert.equal(webhookEventExpired(1000, 1000 + 60_000, 60_000), false);
    assert.equal(webhookEventExpired(1000, 1001 + 60_000, 60_000), true);
  });
});

describe('cutBatches', () => {
  it('bounds each batch by count and by bytes, sending an oversized event alone', () => {
    const limits = { maxEvents: 3, maxBytes: 100, overhead: 10 };
    assert.deepEqual(cutBatches([10, 10, 10, 10, 10], limits), [
      [0, 3],
      [3, 5],
    ]);
    assert.deepEqual(cutBatches([40, 40, 40], limits), [
      [0, 2],
      [2, 3],
    ]);
    assert.deepEqual(cutBatches([500, 10], limits), [
      [0, 1],
      [1, 2],
    ]);
    assert.deepEqual(cutBatches([], limits), []);
  });
});

describe('webhook signatures', () => {
  const body = '{"v":1,"events":[]}';
  const signature = webhookSignature('s3cret', 1_800_000_000, body);

  it('are HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed v1=', () => {
    assert.match(signature, /^v1=[0-9a-f]{64}$/);
    assert.notEqual(webhookSignature('s3cret', 1_800_000_001, body), signature);
  });

  it('verify only with the same secret, body and a timestamp within tolerance', () => {
    const good = {
      secret: 's3cret',
      body,
      timestamp: '1800000000',
      signature,
      nowS: 1_800_000_100,
      toleranceS: 300,
    };
    assert.equal(verifyWebhookSignature(good), undefined);
    assert.equal(verifyWebhookSignature({ ...good, secret: 'other' }), 'signature mismatch');
    assert.equal(verifyWebhookSignature({ ...good, body: `${body} ` }), 'signature mismatch');
    assert.equal(
      verifyWebhookSignature({ ...good, nowS: 1_800_000_301 }),
      'timestamp out of tolerance',
    );
    assert.equal(verifyWebhookSignature({ ...good, timestamp: undefined }), 'no timestamp');
  });
});
