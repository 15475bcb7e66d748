import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readIngressConfig } from './config.ts';

const tls = { HIKYAKU_TLS_CERT_FILE: '/tls/tls.crt', HIKYAKU_TLS_KEY_FILE: '/tls/tls.key' };

test('without a certificate only the relay listener runs, without STARTTLS', () => {
  const config = readIngressConfig({});
  assert.deepEqual(config.listeners, { relay: 2525 });
  assert.equal(config.tls, undefined);
  assert.equal(config.allowInsecureAuth, false);
  assert.equal(config.bareLineEnds, 'reject');
  assert.ok(Object.isFrozen(config));
});

test("HIKYAKU_WIRE_VERSION names how mail is stored; unset, the relay's wire version decides", () => {
  assert.equal(readIngressConfig({}).wireVersion, undefined);
  assert.equal(readIngressConfig({ HIKYAKU_WIRE_VERSION: '1' }).wireVersion, 1);
  assert.equal(readIngressConfig({ HIKYAKU_WIRE_VERSION: '2' }).wireVersion, 2);
});

test('with a certificate the three listeners run', () => {
  const config = readIngressConfig({ ...tls, HIKYAKU_SUBMISSION_PORT: '587' });
  assert.deepEqual(config.listeners, { relay: 2525, submission: 587, smtps: 2465 });
  assert.equal(config.tls?.minVersion, 'TLSv1.2');
  assert.deepEqual(readIngressConfig({ ...tls, HIKYAKU_LISTENERS: 'smtps' }).listeners, {
    smtps: 2465,
  });
});

test('bad values stop the start with the variable named', () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ HIKYAKU_TLS_CERT_FILE: '/x.crt' }, /HIKYAKU_TLS_CERT_FILE and HIKYAKU_TLS_KEY_FILE/],
    [{ HIKYAKU_LISTENERS: 'smtps' }, /HIKYAKU_LISTENERS includes smtps/],
    [{ HIKYAKU_LISTENERS: 'relay,submission' }, /HIKYAKU_LISTENERS includes submission/],
    [{ HIKYAKU_LISTENERS: 'relay,pop3' }, /HIKYAKU_LISTENERS must name/],
    [{ HIKYAKU_SMTP_PORT: '70000' }, /HIKYAKU_SMTP_PORT must be at most 65535/],
    [{ HIKYAKU_BARE_LINE_ENDS: 'fix' }, /HIKYAKU_BARE_LINE_ENDS must be one of reject, normalize/],
    [{ HIKYAKU_SESSION_TIMEOUT_MS: 'soon' }, /HIKYAKU_SESSION_TIMEOUT_MS must be an integer/],
    [
      { HIKYAKU_DRAIN_TIMEOUT_MS: '30000', HIKYAKU_SHUTDOWN_GRACE_MS: '25000' },
      /HIKYAKU_DRAIN_TIMEOUT_MS \(30000\) must be shorter than HIKYAKU_SHUTDOWN_GRACE_MS/,
    ],
    [{ ...tls, HIKYAKU_TLS_MIN_VERSION: 'TLSv1' }, /HIKYAKU_TLS_MIN_VERSION/],
    [{ HIKYAKU_WIRE_VERSION: '3' }, /HIKYAKU_WIRE_VERSION must be one of 1, 2, got "3"/],
  ];
  for (const [env, message] of bad) {
    assert.throws(
      () => readIngressConfig(env),
      { code: 'HIKYAKU_BAD_CONFIG', message },
      message.source,
    );
  }
});

test('a test setup may offer AUTH without TLS on the submission port', () => {
  const config = readIngressConfig({
    HIKYAKU_LISTENERS: 'relay,submission',
    HIKYAKU_ALLOW_INSECURE_AUTH: 'true',
  });
  assert.deepEqual(config.listeners, { relay: 2525, submission: 2587 });
  assert.equal(config.allowInsecureAuth, true);
});

test('per-client limits: Postfix-like defaults, set for all listeners or for one', () => {
  const defaults = readIngressConfig({ ...tls });
  for (const listener of ['relay', 'submission', 'smtps'] as const) {
    assert.deepEqual(defaults.clientLimits[listener], {
      client: { sessions: 50, connectionsPerMinute: 300 },
      trusted: { sessions: 0, connectionsPerMinute: 0 },
    });
  }
  const set = readIngressConfig({
    ...tls,
    HIKYAKU_CLIENT_MAX_SESSIONS: '20',
    HIKYAKU_CLIENT_MAX_SESSIONS_SMTPS: '5',
    HIKYAKU_TRUSTED_CLIENT_MAX_CONNECTIONS_PER_MINUTE_RELAY: '6000',
  });
  assert.equal(set.clientLimits.relay?.client.sessions, 20);
  assert.equal(set.clientLimits.submission?.client.sessions, 20);
  assert.equal(set.clientLimits.smtps?.client.sessions, 5);
  assert.equal(set.clientLimits.relay?.trusted.connectionsPerMinute, 6000);
  assert.equal(set.clientLimits.smtps?.trusted.connectionsPerMinute, 0);
  assert.throws(() => readIngressConfig({ HIKYAKU_CLIENT_MAX_SESSIONS_RELAY: '-1' }), {
    message: /HIKYAKU_CLIENT_MAX_SESSIONS_RELAY must be at least 0/,
  });
});
