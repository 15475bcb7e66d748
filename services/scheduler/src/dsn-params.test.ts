import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DsnParameters } from '@hikyaku/core';
import type { DsnRecipient } from '@hikyaku/core/policy';
import { dsnFor, reportable } from './dsn-params.ts';

const message: DsnParameters = {
  dsn: { ret: 'HDRS', envid: 'E1' },
  rcptDsn: [
    { rcpt: 'never@x.test', notify: ['NEVER'] },
    { rcpt: 'orig@x.test', orcpt: 'rfc822;Orig@X.test' },
    { rcpt: 'success@y.test', notify: ['SUCCESS'] },
  ],
};

function row(recipient: string, action: DsnRecipient['action']): DsnRecipient {
  return { recipient, action, status: action === 'relayed' ? '2.0.0' : '5.1.1' };
}

test('each part of a message carries the message parameters and its own recipients', () => {
  assert.deepEqual(dsnFor(message, ['orig@x.test', 'plain@x.test']), {
    dsn: { ret: 'HDRS', envid: 'E1' },
    rcptDsn: [{ rcpt: 'orig@x.test', orcpt: 'rfc822;Orig@X.test' }],
  });
  assert.deepEqual(dsnFor(message, ['plain@x.test']), { dsn: { ret: 'HDRS', envid: 'E1' } });
  assert.deepEqual(dsnFor({}, ['plain@x.test']), {});
});

test('only recipients that asked for a kind of report are in it, with their ORCPT', () => {
  assert.deepEqual(
    reportable(message, [
      row('never@x.test', 'failed'),
      row('orig@x.test', 'failed'),
      row('plain@x.test', 'failed'),
      row('success@y.test', 'failed'),
    ]),
    [
      { ...row('orig@x.test', 'failed'), originalRecipient: 'rfc822;Orig@X.test' },
      row('plain@x.test', 'failed'),
    ],
  );
  assert.deepEqual(
    reportable(message, [row('success@y.test', 'relayed'), row('plain@x.test', 'relayed')]),
    [row('success@y.test', 'relayed')],
  );
});
