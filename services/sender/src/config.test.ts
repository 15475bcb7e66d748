import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readSenderConfig } from './config.ts';

const base = { HIKYAKU_POOL: 'mail_transactional', HIKYAKU_POD_NAME: 'transactional-sender-0' };

describe('readSenderConfig', () => {
  it("writes results in HIKYAKU_WIRE_VERSION; unset, the relay's", () => {
    assert.equal(readSenderConfig(base).wireVersion, undefined);
    assert.equal(readSenderConfig({ ...base, HIKYAKU_WIRE_VERSION: '1' }).wireVersion, 1);
    assert.equal(readSenderConfig({ ...base, HIKYAKU_WIRE_VERSION: '2' }).wireVersion, 2);
    assert.throws(
      () => readSenderConfig({ ...base, HIKYAKU_WIRE_VERSION: 'v2' }),
      /HIKYAKU_WIRE_VERSION must be one of 1, 2, got "v2"/,
    );
  });

  it("uses Postfix's timeouts and the system's DNS by default", () => {
    const config = readSenderConfig(base);
    assert.equal(config.connectTimeoutMs, 30_000);
    assert.equal(config.greetingTimeoutMs, 300_000);
    assert.equal(config.commandTimeoutMs, 300_000);
    assert.equal(config.dataTimeoutMs, 600_000);
    assert.deepEqual(config.dnsServers, []);
    assert.equal(config.mxPort, 25);
    assert.equal(config.tlsVerify, false);
    assert.equal(config.tlsCaFile, undefined);
    assert.equal(config.mtaSts, true);
    assert.equal(config.mtaStsPort, 443);
    assert.ok(Object.isFrozen(config));
  });

  it('pipelines the envelope unless HIKYAKU_SMTP_PIPELINING is off', () => {
    assert.equal(readSenderConfig(base).smtpPipelining, true);
    assert.equal(
      readSenderConfig({ ...base, HIKYAKU_SMTP_PIPELINING: 'off' }).smtpPipelining,
      false,
    );
    assert.throws(
      () => readSenderConfig({ ...base, HIKYAKU_SMTP_PIPELINING: 'no' }),
      /HIKYAKU_SMTP_PIPELINING must be one of on, off, got "no"/,
    );
  });

  it('waits 5 s for a result hand-off unless told otherwise, within bounds', () => {
    assert.equal(readSenderConfig(base).resultHandoffTimeoutMs, 5000);
    assert.equal(
      readSenderConfig({ ...base, HIKYAKU_RESULT_HANDOFF_TIMEOUT_MS: '250' })
        .resultHandoffTimeoutMs,
      250,
    );
    assert.throws(
      () => readSenderConfig({ ...base, HIKYAKU_RESULT_HANDOFF_TIMEOUT_MS: '0' }),
      /HIKYAKU_RESULT_HANDOFF_TIMEOUT_MS/,
    );
  });

  it('starts jobs at once unless HIKYAKU_SENDER_GATHER_MS says to gather them, within bounds', () => {
    assert.equal(readSenderConfig(base).gatherMs, 0);
    assert.equal(readSenderConfig({ ...base, HIKYAKU_SENDER_GATHER_MS: '20' }).gatherMs, 20);
    assert.throws(
      () => readSenderConfig({ ...base, HIKYAKU_SENDER_GATHER_MS: '5000' }),
      /HIKYAKU_SENDER_GATHER_MS must be at most 1000/,
    );
  });

  it('reads DNS servers with and without ports', () => {
    const config = readSenderConfig({
      ...base,
      HIKYAKU_DNS_SERVERS: '127.0.0.1:5353, 10.96.0.10, [2001:db8::53]:53',
    });
    assert.deepEqual(config.dnsServers, ['127.0.0.1:5353', '10.96.0.10', '[2001:db8::53]:53']);
  });

  it('names every bad value at once', () => {
    assert.throws(
      () =>
        readSenderConfig({
          ...base,
          HIKYAKU_DNS_SERVERS: 'dns.example:53',
          HIKYAKU_DATA_TIMEOUT_MS: 'soon',
          HIKYAKU_TLS_VERIFY: 'maybe',
        }),
      (err: Error) =>
        /HIKYAKU_DNS_SERVERS/.test(err.message) &&
        /HIKYAKU_DATA_TIMEOUT_MS/.test(err.message) &&
        /HIKYAKU_TLS_VERIFY/.test(err.message),
    );
  });

  it('delivers webhooks with a 10 s timeout and waits up to 5 minutes between tries', () => {
    const config = readSenderConfig(base);
    assert.equal(config.webhookCaFile, undefined);
    assert.equal(config.webhookTimeoutMs, 10_000);
    assert.equal(config.webhookMaxBackoffMs, 300_000);
    assert.throws(
      () => readSenderConfig({ ...base, HIKYAKU_WEBHOOK_MAX_BACKOFF_MS: '10' }),
      /HIKYAKU_WEBHOOK_MAX_BACKOFF_MS/,
    );
  });

  it('turns MTA-STS off, and refuses anything but on or off', () => {
    assert.equal(readSenderConfig({ ...base, HIKYAKU_MTA_STS: 'off' }).mtaSts, false);
    assert.throws(
      () => readSenderConfig({ ...base, HIKYAKU_MTA_STS: 'disabled' }),
      /HIKYAKU_MTA_STS must be one of on, off, got "disabled"/,
    );
  });

  it('refuses a CA file that cannot be read or holds no certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hikyaku-config-'));
    try {
      const empty = join(dir, 'empty.pem');
      writeFileSync(empty, 'nothing here\n');
      assert.throws(
        () => readSenderConfig({ ...base, HIKYAKU_TLS_CA_FILE: join(dir, 'missing.pem') }),
        /HIKYAKU_TLS_CA_FILE: cannot read/,
      );
      assert.throws(
        () => readSenderConfig({ ...base, HIKYAKU_TLS_CA_FILE: empty }),
        /HIKYAKU_TLS_CA_FILE: .* holds no PEM certificate/,
      );
      assert.throws(
        () => readSenderConfig({ ...base, HIKYAKU_WEBHOOK_CA_FILE: empty }),
        /HIKYAKU_WEBHOOK_CA_FILE: .* holds no PEM certificate/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
