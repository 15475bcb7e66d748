import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAddress, isHostName } from './address.ts';

const rcpt = { role: 'recipient' as const, smtputf8: false };
const sender = { role: 'sender' as const, smtputf8: false };

test('ordinary addresses pass, with the domain in lower-case ASCII', () => {
  assert.deepEqual(checkAddress('John.Doe+tag@Example.TEST', rcpt), {
    ok: true,
    address: 'John.Doe+tag@example.test',
    domain: 'example.test',
  });
  assert.deepEqual(checkAddress('u@b\u00fccher.example', rcpt), {
    ok: true,
    address: 'u@xn--bcher-kva.example',
    domain: 'xn--bcher-kva.example',
  });
  // Mailbox tricks of old relays are only local-part characters to a relay that routes
  // on the domain alone.
  assert.equal(checkAddress('user%other.example@example.test', rcpt).ok, true);
  assert.equal(checkAddress('host!user@example.test', rcpt).ok, true);
});

test('the null sender is a sender only', () => {
  assert.deepEqual(checkAddress('', sender), { ok: true, address: '', domain: '' });
  assert.equal(checkAddress('', rcpt).ok, false);
});

test('what a relay must not forward is refused', () => {
  const refused = [
    'postmaster',
    '@example.test',
    'user@localhost',
    'user@[192.0.2.1]',
    'user@[IPv6:2001:db8::1]',
    '"user@other.example"@example.test',
    '"john doe"@example.test',
    'a@b@example.test',
    'user@example.test\r\nRCPT TO:<x@example.test>',
    'user\n@example.test',
    'user@exa\u0000mple.test',
    'us er@example.test',
    'user@-bad-.example',
    'user@example..test',
    'user@example.test.',
    `${'l'.repeat(65)}@example.test`,
    `u@${`${'d'.repeat(62)}.`.repeat(4)}test`,
    `${'l'.repeat(64)}@${`${'d'.repeat(62)}.`.repeat(3)}test`,
    'a\\b@example.test',
  ];
  for (const address of refused) {
    assert.equal(checkAddress(address, rcpt).ok, false, JSON.stringify(address));
  }
  assert.equal(checkAddress(`${'l'.repeat(64)}@example.test`, rcpt).ok, true);
});

test('non-ASCII local parts need SMTPUTF8', () => {
  const without = checkAddress('j\u00fcrgen@example.test', rcpt);
  assert.equal(without.ok, false);
  assert.equal(!without.ok && without.needsSmtputf8, true);
  assert.equal(checkAddress('j\u00fcrgen@example.test', { ...rcpt, smtputf8: true }).ok, true);
});

test('host names have two or more LDH labels', () => {
  assert.equal(isHostName('mta1.example.test'), true);
  assert.equal(isHostName('example'), false);
  assert.equal(isHostName('exa_mple.test'), false);
  assert.equal(isHostName(`${'a'.repeat(64)}.test`), false);
});
