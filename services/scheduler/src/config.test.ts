import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@hikyaku/core';
import { bodyRemovalFor, readSchedulerConfig } from './config.ts';

test('shaping settings have documented defaults', () => {
  const config = readSchedulerConfig({ HIKYAKU_REPORTING_MTA: 'relay.example.com' });
  assert.equal(config.maxParkMs, 3_600_000);
  assert.equal(config.rateSlackMs, 1000);
  assert.deepEqual(config.dnsServers, []);
  assert.equal(config.reportingMta, 'relay.example.com');
  assert.ok(Object.isFrozen(config));
});

test('bad values stop the start, each named', () => {
  assert.throws(
    () =>
      readSchedulerConfig({
        HIKYAKU_DNS_SERVERS: '127.0.0.1:5353,dns.example',
        HIKYAKU_RATE_SLACK_MS: '-5',
        HIKYAKU_REPORTING_MTA: 'not a host',
      }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /"dns\.example" is not an IP address/.test(err.message) &&
      /HIKYAKU_RATE_SLACK_MS must be at least 0/.test(err.message) &&
      /HIKYAKU_REPORTING_MTA: "not a host"/.test(err.message),
  );
});

test('attempt lines write recipients whole unless HIKYAKU_LOG_RECIPIENTS says otherwise', () => {
  assert.equal(readSchedulerConfig({}).logRecipients, 'full');
  assert.equal(readSchedulerConfig({ HIKYAKU_LOG_RECIPIENTS: 'hash' }).logRecipients, 'hash');
  assert.throws(
    () => readSchedulerConfig({ HIKYAKU_LOG_RECIPIENTS: 'none' }),
    /HIKYAKU_LOG_RECIPIENTS must be one of full, domain, hash, got "none"/,
  );
});

test("queue items and jobs are written in HIKYAKU_WIRE_VERSION; unset, the relay's", () => {
  assert.equal(readSchedulerConfig({}).wireVersion, undefined);
  assert.equal(readSchedulerConfig({ HIKYAKU_WIRE_VERSION: '1' }).wireVersion, 1);
  assert.equal(readSchedulerConfig({ HIKYAKU_WIRE_VERSION: '2' }).wireVersion, 2);
  assert.throws(
    () => readSchedulerConfig({ HIKYAKU_WIRE_VERSION: '3' }),
    /HIKYAKU_WIRE_VERSION must be one of 1, 2, got "3"/,
  );
});

test('progress notices are off unless HIKYAKU_PROGRESS_EVENTS turns them on', () => {
  assert.equal(readSchedulerConfig({}).progressEvents, false);
  assert.equal(readSchedulerConfig({ HIKYAKU_PROGRESS_EVENTS: 'true' }).progressEvents, true);
  assert.throws(
    () => readSchedulerConfig({ HIKYAKU_PROGRESS_EVENTS: 'sometimes' }),
    /HIKYAKU_PROGRESS_EVENTS must be true or false, got "sometimes"/,
  );
});

test('new mail is gathered for 20 ms unless HIKYAKU_SCHEDULER_GATHER_MS says otherwise', () => {
  assert.equal(readSchedulerConfig({}).gatherMs, 20);
  assert.equal(readSchedulerConfig({ HIKYAKU_SCHEDULER_GATHER_MS: '0' }).gatherMs, 0);
  assert.throws(
    () => readSchedulerConfig({ HIKYAKU_SCHEDULER_GATHER_MS: '5000' }),
    /HIKYAKU_SCHEDULER_GATHER_MS must be at most 1000/,
  );
});

test('HIKYAKU_BODY_REMOVAL names how bodies are removed; unset, the wire version decides', () => {
  const base = { HIKYAKU_REPORTING_MTA: 'relay.example.com' };
  const plain = readSchedulerConfig(base);
  assert.equal(plain.bodyRemoval, undefined);
  // Purges at 2, whose readers all read a body's kept copy; one by one at 1.
  assert.equal(bodyRemovalFor(2), 'purge');
  assert.equal(bodyRemovalFor(1), 'each');
  assert.equal(readSchedulerConfig({ ...base, HIKYAKU_BODY_REMOVAL: 'each' }).bodyRemoval, 'each');
  assert.equal(plain.bodyPurgeMs, 5000);
  assert.equal(plain.bodyKeepMs, 10_000);
  const purged = readSchedulerConfig({
    ...base,
    HIKYAKU_BODY_REMOVAL: 'purge',
    HIKYAKU_BODY_PURGE_MS: '2000',
    HIKYAKU_BODY_KEEP_MS: '30000',
  });
  assert.equal(purged.bodyRemoval, 'purge');
  assert.equal(purged.bodyPurgeMs, 2000);
  assert.equal(purged.bodyKeepMs, 30_000);
  assert.throws(
    () =>
      readSchedulerConfig({ ...base, HIKYAKU_BODY_REMOVAL: 'batch', HIKYAKU_BODY_KEEP_MS: '10' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /HIKYAKU_BODY_REMOVAL must be one of each, purge, got "batch"/.test(err.message) &&
      /HIKYAKU_BODY_KEEP_MS must be at least 1000/.test(err.message),
  );
});
