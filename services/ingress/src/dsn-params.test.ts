import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailDsn, recipientDsn, transactionDsn } from './dsn-params.ts';

test('RET and ENVID are kept; a MAIL FROM without them carries nothing', () => {
  assert.deepEqual(mailDsn({ RET: 'hdrs', ENVID: 'QQ314159' }), {
    ok: true,
    value: { ret: 'HDRS', envid: 'QQ314159' },
  });
  assert.deepEqual(mailDsn({ RET: 'FULL' }), { ok: true, value: { ret: 'FULL' } });
  assert.deepEqual(mailDsn({ SIZE: '100' }), { ok: true, value: undefined });
  assert.deepEqual(mailDsn(false), { ok: true, value: undefined });
});

test('an ENVID is limited to 100 characters as it goes on the wire (xtext)', () => {
  assert.equal(mailDsn({ ENVID: 'x'.repeat(100) }).ok, true);
  assert.deepEqual(mailDsn({ ENVID: 'x'.repeat(101) }), {
    ok: false,
    problem: 'ENVID longer than 100 characters',
  });
  // 34 "+" are 102 characters once encoded again.
  assert.equal(mailDsn({ ENVID: '+'.repeat(34) }).ok, false);
});

test('ENVID and ORCPT must decode to printable ASCII', () => {
  assert.deepEqual(mailDsn({ ENVID: 'caf\u00e9' }), {
    ok: false,
    problem: 'ENVID is not printable ASCII',
  });
  assert.deepEqual(recipientDsn({ orcpt: 'rfc822;j\u00fcrgen@example.org' }), {
    ok: false,
    problem: 'ORCPT is not printable ASCII',
  });
  // RFC 6533 writes a UTF-8 address in ASCII.
  assert.equal(recipientDsn({ orcpt: 'utf-8;j\\x{FC}rgen@example.org' }).ok, true);
});

test('NOTIFY and ORCPT are kept per recipient, NOTIFY once per keyword', () => {
  assert.deepEqual(recipientDsn({ notify: ['FAILURE', 'FAILURE', 'DELAY'] }), {
    ok: true,
    value: { notify: ['FAILURE', 'DELAY'] },
  });
  assert.deepEqual(recipientDsn({ notify: ['NEVER'], orcpt: 'rfc822;A@example.org' }), {
    ok: true,
    value: { notify: ['NEVER'], orcpt: 'rfc822;A@example.org' },
  });
  assert.deepEqual(recipientDsn(undefined), { ok: true, value: undefined });
  assert.deepEqual(recipientDsn({}), { ok: true, value: undefined });
});

test('an ORCPT is limited to 500 characters as it goes on the wire', () => {
  assert.equal(recipientDsn({ orcpt: `rfc822;${'a'.repeat(493)}` }).ok, true);
  assert.deepEqual(recipientDsn({ orcpt: `rfc822;${'a'.repeat(494)}` }), {
    ok: false,
    problem: 'ORCPT longer than 500 characters',
  });
});

test('a transaction lists only the recipients that had parameters', () => {
  assert.deepEqual(
    transactionDsn({ envid: 'e1' }, [
      { address: 'a@example.test', dsn: { notify: ['NEVER'] } },
      { address: 'b@example.test' },
      { address: 'c@example.test', dsn: { orcpt: 'rfc822;C@example.test' } },
    ]),
    {
      dsn: { envid: 'e1' },
      rcptDsn: [
        { rcpt: 'a@example.test', notify: ['NEVER'] },
        { rcpt: 'c@example.test', orcpt: 'rfc822;C@example.test' },
      ],
    },
  );
  assert.deepEqual(transactionDsn(undefined, [{ address: 'b@example.test' }]), {});
});
