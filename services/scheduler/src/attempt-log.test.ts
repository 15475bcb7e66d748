import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryEvent } from '@hikyaku/core';
import { attemptLine, loggedRecipient, withAttemptLog } from './attempt-log.ts';

const deferred: DeliveryEvent = {
  v: 1,
  type: 'deferred',
  id: 'Q1',
  pool: 'mail_tx',
  rcpt: 'Ann@Example.com',
  at: 10_000,
  ip: '203.0.113.10',
  attempt: 2,
  reply: {
    code: 451,
    enhanced: '4.7.1',
    text: '451 4.7.1 Try later',
    remoteHost: 'mx1.example.com',
    remoteAddress: '198.51.100.7',
  },
  messageId: 'abc@app.example.org',
  tls: 'TLSv1.3',
  delayMs: 4_321,
};

test('an attempt line carries the fields an admin looks for, attempt counted from 1', () => {
  assert.deepEqual(attemptLine(deferred, 'full'), {
    status: 'deferred',
    id: 'Q1',
    messageId: 'abc@app.example.org',
    pool: 'mail_tx',
    to: 'Ann@Example.com',
    ip: '203.0.113.10',
    relay: 'mx1.example.com',
    relayAddress: '198.51.100.7',
    attempt: 3,
    delay: 4.321,
    tls: 'TLSv1.3',
    dsn: '4.7.1',
    code: 451,
    reply: '451 4.7.1 Try later',
  });
  assert.equal(attemptLine({ ...deferred, type: 'delivered' }, 'full')?.status, 'sent');
  assert.equal(attemptLine({ ...deferred, type: 'bounced' }, 'full')?.status, 'bounced');
  assert.equal(attemptLine({ ...deferred, type: 'expired' }, 'full')?.status, 'expired');
  assert.equal(attemptLine({ ...deferred, type: 'scheduled' }, 'full'), undefined);
  assert.equal(attemptLine({ ...deferred, type: 'accepted' }, 'full'), undefined);
});

test('recipients are logged whole, as their domain, or with a stable digest of the address', () => {
  assert.equal(loggedRecipient('Ann@Example.com', 'full'), 'Ann@Example.com');
  assert.equal(loggedRecipient('Ann@Example.com', 'domain'), 'example.com');
  const hashed = loggedRecipient('Ann@Example.com', 'hash');
  assert.match(hashed, /^[0-9a-f]{16}@example\.com$/);
  assert.equal(loggedRecipient('ann@example.com', 'hash'), hashed);
  assert.notEqual(loggedRecipient('bob@example.com', 'hash'), hashed);
  assert.equal(attemptLine(deferred, 'domain')?.to, 'example.com');
  assert.ok(!JSON.stringify(attemptLine(deferred, 'hash')).includes('Ann'));
});

test('stored attempts are logged at info, and nothing is built when info is off', async () => {
  const publish = async (_events: DeliveryEvent[]): Promise<boolean> => false;
  const publisher = { publish };
  for (const enabled of [true, false, undefined]) {
    const lines: unknown[] = [];
    const log = {
      info: (line: unknown) => {
        lines.push(line);
      },
      ...(enabled === undefined ? {} : { isLevelEnabled: () => enabled }),
    };
    const logged = withAttemptLog(publisher, log as never, 'full');
    assert.equal(await logged.publish([deferred, { ...deferred, type: 'scheduled' }]), false);
    assert.equal(lines.length, enabled === false ? 0 : 1, `info enabled: ${enabled}`);
  }
  const repeat = withAttemptLog(
    { publish: async (_events: DeliveryEvent[]) => true },
    { info: () => assert.fail() },
    'full',
  );
  assert.equal(await repeat.publish([deferred]), true);
});
