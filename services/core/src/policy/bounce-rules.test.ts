import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyBounce, createBounceClassifier, type SmtpFailure } from './bounce-classifier.ts';
import { BOUNCE_CATEGORIES, DEFAULT_BOUNCE_RULES } from './bounce-rules.ts';

/**
 * One failure per rule that must be decided by exactly that rule: proof that every rule is
 * reachable in its place in the order, and a record of why the order is what it is. The
 * real-world replies are in bounce-replies-*.test.ts.
 */
const EXAMPLES: Record<string, SmtpFailure> = {
  greylisted: { text: '451 4.7.1 Greylisting in action, please come back later' },
  // One busy mailbox: its words about rates must not slow the whole destination.
  'recipient-receiving-too-fast': {
    text: '450 4.2.1 The user you are trying to contact is receiving mail too quickly',
  },
  'recipient-rate-code': { text: '452 4.2.1 Rate limit exceeded, try again later' },
  // Connection limits: fewer connections, not a lower rate.
  'too-many-connections': { text: '421 4.7.0 Too many concurrent SMTP connections from you' },
  'yahoo-permanently-deferred': {
    text: '553 5.7.2 [TSS11] All messages will be permanently deferred',
  },
  'yahoo-volume-deferral': { text: '421 4.7.0 [TS03] Messages from 203.0.113.10 deferred' },
  'gmail-rate-limited': { code: 421, enhancedCode: '4.7.28', text: 'Our system has detected ...' },
  // Gmail's rate limiting speaks of unsolicited mail; it must win over the spam rules.
  'unusual-rate': { text: '550 5.7.1 Our system has detected an unusual rate of unsolicited mail' },
  'outlook-ip-rate-limited': { code: 451, enhancedCode: '4.7.650', text: 'see postmaster' },
  'rate-limit': { text: '452 4.3.2 Message rate limit exceeded.' },
  'policy-try-again-later': { text: '451 4.7.1 Please try again later' },
  'closing-try-again-later': { text: '421 Service is busy' },
  // A socket error is never anything but a connection failure, whatever its text says.
  'connection-error': { connectionError: 'ECONNRESET', text: 'user unknown' },
  'sender-address-code': { text: '553 5.1.8 Domain of sender does not resolve' },
  // Exim's sender verification mentions an unrouteable address that is ours, not theirs.
  'sender-address-text': { text: '550-Unrouteable address\r\n550 Sender verify failed' },
  // Exchange Online says "Access denied" for a recipient that does not exist.
  'office365-recipient-not-found': { text: '550 5.4.1 Recipient address rejected: Access denied' },
  'auth-code': { text: '550 5.7.23 The message was rejected' },
  'outlook-auth-code': { text: '550 5.7.515 Access denied, sending domain lacks required level' },
  // Authentication is named before policy words like "blocked" are.
  'auth-text': { text: '550 5.7.1 Message blocked: DMARC policy of the sender is reject' },
  'block-list': { text: '554 5.7.1 Client host blocked using zen.spamhaus.org' },
  // Reputation is about the sender, before the content words a reply may also use.
  reputation: { text: '550 5.7.1 Sender IP reputation is too low' },
  // Relay denied is a routing failure although it comes with 5.7.1.
  'routing-text': { text: '554 5.7.1 <a@example.org>: Relay access denied' },
  'content-text': { text: '550 5.7.1 Message rejected as spam' },
  'policy-text': { text: '550 5.7.1 Message refused for policy reasons' },
  'mailbox-full-text': { text: '552 5.2.2 <a@example.org>: Mailbox full' },
  'message-too-big-text': { text: '552 Message size exceeds maximum permitted' },
  // Text names a dead mailbox even when the server chose a policy code for it.
  'unknown-user': { text: '550 5.7.1 <a@example.org>: Recipient address rejected: Unknown user' },
  'bad-domain-text': { text: '550 Host or domain name not found' },
  'bad-mailbox-code': { text: '550 5.1.1 Requested action not taken' },
  'bad-domain-code': { text: '550 5.1.2 Requested action not taken' },
  'mailbox-full-code': { text: '452 4.2.2 Requested action not taken' },
  'message-too-big-code': { text: '552 5.3.4 Requested action not taken' },
  'protocol-text': { text: '530 5.7.0 Must issue a STARTTLS command first' },
  'protocol-code': { text: '501 Bad address syntax' },
  'protocol-enhanced': { text: '550 5.5.2 Requested action not taken' },
  'routing-code': { text: '554 5.4.6 Requested action not taken' },
  'policy-code': { text: '550 5.7.0 Requested action not taken' },
  'network-code': { text: '451 4.4.1 No answer from host' },
  temporary: { text: '451 Requested action aborted: local error in processing' },
  permanent: { text: '554 Transaction failed' },
};

test('every rule has an example here, and nothing else does', () => {
  assert.deepEqual(Object.keys(EXAMPLES).sort(), DEFAULT_BOUNCE_RULES.map((r) => r.name).sort());
});

const classify = createBounceClassifier();
for (const rule of DEFAULT_BOUNCE_RULES) {
  test(`rule ${rule.name} decides its example as ${rule.category}`, () => {
    const example = EXAMPLES[rule.name];
    assert.ok(example !== undefined);
    const result = classify(example);
    assert.equal(result.rule, rule.name, `decided by ${result.rule}`);
    assert.equal(result.category, rule.category);
  });
}

test('rule names are unique and categories are all known', () => {
  const names = DEFAULT_BOUNCE_RULES.map((r) => r.name);
  assert.equal(new Set(names).size, names.length);
  for (const rule of DEFAULT_BOUNCE_RULES) {
    assert.ok(BOUNCE_CATEGORIES.includes(rule.category), rule.name);
  }
});

test('the table ends in catch-alls for both classes, so nothing falls off it', () => {
  assert.deepEqual(
    DEFAULT_BOUNCE_RULES.slice(-2).map((r) => [r.category, r.replyClass, r.text, r.codes]),
    [
      ['soft', 4, undefined, undefined],
      ['rejected', 5, undefined, undefined],
    ],
  );
});

test('connection-level failures are connection/retry, never hard, whatever their text', () => {
  for (const connectionError of ['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EHOSTUNREACH']) {
    const result = classify({ connectionError, text: `connect ${connectionError} user unknown` });
    assert.equal(result.category, 'connection');
    assert.equal(result.action, 'retry');
  }
});

test('classifyBounce is the same table as createBounceClassifier', () => {
  const reply = '550 5.1.1 <someone@example.org>... User unknown';
  assert.deepEqual(classifyBounce({ text: reply }), classify({ text: reply }));
});
