/**
 * TLS: STARTTLS whenever the receiver offers it (its certificate is self-signed and not
 * verified, as MTAs do), the version and cipher recorded in the result and the metrics, and
 * a `tls: required` policy that defers rather than send in clear text.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metricValue, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceiver, startReceivers } from './receiver.ts';

let secure: Receiver;
let plain: Receiver;
let fixture: SenderFixture;

before(async () => {
  [plain] = (await startReceivers(['127.0.5.32'])) as [Receiver];
  secure = await startReceiver({ host: '127.0.5.31', port: plain.port, starttls: true });
  fixture = await startSenderFixture({
    spec: {
      routes: [
        { domains: ['secure.test'], host: `${secure.host}:${secure.port}` },
        { domains: ['plain.test'], host: `${plain.host}:${plain.port}` },
      ],
      ratePolicies: [
        { name: 'strict', match: { domains: ['secure.test', 'plain.test'] }, tls: 'required' },
      ],
    },
  });
});

after(async () => {
  await fixture?.stop();
  await secure?.close();
  await plain?.close();
});

describe('TLS', () => {
  it('uses STARTTLS when offered and records the version and cipher', async () => {
    const job = await fixture.submit({ rcpts: ['a@secure.test'] });
    const result = await fixture.result(job);
    assert.equal(result.outcomes[0]?.status, 'delivered');
    const [received] = secure.messages;
    assert.equal(received?.secure, true, 'the receiver saw the message over TLS');
    assert.ok(result.tls, 'the result records TLS');
    assert.deepEqual(result.tls, received?.tls);
    assert.match(result.tls.version, /^TLSv1\.[23]$/);
    const metrics = await fixture.metrics();
    assert.equal(
      metricValue(metrics, 'hikyaku_sender_connections_total', {
        ip: '127.0.0.2',
        tls_version: result.tls.version,
        tls_cipher: result.tls.cipher,
      }),
      1,
    );
  });

  it('sends in clear text to a receiver without STARTTLS, and says so', async () => {
    const job = await fixture.submit({ rcpts: ['a@plain.test'] });
    const result = await fixture.result(job);
    assert.equal(result.outcomes[0]?.status, 'delivered');
    assert.equal(result.tls, undefined);
    assert.equal(plain.messages[0]?.secure, false);
    const metrics = await fixture.metrics();
    assert.ok(
      (metricValue(metrics, 'hikyaku_sender_connections_total', { tls_version: 'none' }) ?? 0) >= 1,
    );
  });

  it('with tls: required, delivers over TLS where offered', async () => {
    const job = await fixture.submit({ rcpts: ['b@secure.test'], policy: 'strict' });
    const result = await fixture.result(job);
    assert.equal(result.outcomes[0]?.status, 'delivered');
    assert.ok(result.tls);
    assert.equal(secure.messages.at(-1)?.secure, true);
  });

  it('with tls: required, defers instead of sending to a receiver without STARTTLS', async () => {
    const delivered = plain.messages.length;
    const job = await fixture.submit({ rcpts: ['b@plain.test', 'c@plain.test'], policy: 'strict' });
    const result = await fixture.result(job);
    for (const outcome of result.outcomes) {
      assert.equal(outcome.status, 'deferred');
      assert.equal(outcome.enhanced, '4.7.4');
      assert.equal(outcome.errorCode, 'HIKYAKU_TLS_REQUIRED');
      assert.equal(outcome.remoteHost, plain.host);
    }
    assert.equal(plain.messages.length, delivered, 'nothing was sent in clear text');
  });
});

describe('TLS handshake failures', () => {
  let broken: Receiver;
  let verifying: SenderFixture;

  before(async () => {
    broken = await startReceiver({ host: '127.0.5.33', port: plain.port, brokenTls: true });
    verifying = await startSenderFixture({
      env: { HIKYAKU_TLS_VERIFY: 'true' },
      spec: { routes: [{ domains: ['secure.test'], host: `${secure.host}:${secure.port}` }] },
    });
  });

  after(async () => {
    await verifying?.stop();
    await broken?.close();
  });

  it('retries in clear text when the handshake fails and TLS is only opportunistic', async () => {
    const spec = { routes: [{ domains: ['broken.test'], host: `${broken.host}:${broken.port}` }] };
    const local = await startSenderFixture({ spec });
    try {
      const job = await local.submit({ rcpts: ['a@broken.test'] });
      const result = await local.result(job);
      assert.equal(result.outcomes[0]?.status, 'delivered');
      assert.equal(result.tls, undefined);
      assert.equal(broken.messages[0]?.secure, false);
      assert.equal(broken.stats.connections, 2, 'one failed handshake, one clear-text session');
    } finally {
      await local.stop();
    }
  });

  it('defers when the certificate is verified and does not verify', async () => {
    const delivered = secure.messages.length;
    const job = await verifying.submit({ rcpts: ['v@secure.test'] });
    const [outcome] = (await verifying.result(job)).outcomes;
    assert.equal(outcome?.status, 'deferred');
    assert.equal(outcome?.enhanced, '4.7.5');
    assert.match(outcome?.text ?? '', /TLS failure with 127\.0\.5\.31/);
    // The certificate problem itself (self-signed, expired, ...) is the error code.
    assert.ok(outcome?.errorCode && outcome.errorCode !== 'ETLS', outcome?.errorCode);
    assert.equal(secure.messages.length, delivered);
  });
});
