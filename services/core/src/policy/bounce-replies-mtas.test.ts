import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BounceAction, createBounceClassifier } from './bounce-classifier.ts';
import type { BounceCategory } from './bounce-rules.ts';

/**
 * Replies of the Japanese carriers (docomo, au/KDDI, SoftBank) and of the common MTAs
 * (Postfix, Exim, Sendmail, qmail) as they answer out of the box.
 * Addresses and IPs are replaced by documentation values. Each row: who sends it, the raw
 * reply as the sender reports it, and what the scheduler must make of it.
 */
const REPLIES: ReadonlyArray<readonly [string, string, BounceCategory, BounceAction]> = [
  // docomo (NTT DOCOMO)
  ['docomo unknown user', '550 Unknown user someone@docomo.ne.jp', 'hard', 'bounce'],
  ['docomo mailbox full', '552 Too much mail data someone@docomo.ne.jp', 'mailbox-full', 'bounce'],
  ['docomo too many recipients', '552 Too many recipients', 'throttled', 'retry-throttled'],
  ['docomo line too long', '500 Line Too Long', 'protocol', 'bounce'],

  // au (KDDI)
  ['au user unknown', '550 <someone@ezweb.ne.jp>: User unknown', 'hard', 'bounce'],
  ['au.com user unknown (filtered)', '550 : User unknown', 'hard', 'bounce'],
  [
    'au relay access denied',
    '554 <someone@@ezweb.ne.jp>: Relay access denied',
    'routing',
    'bounce',
  ],

  // SoftBank
  [
    'softbank invalid recipient',
    '550 Invalid recipient: <someone@i.softbank.jp>',
    'hard',
    'bounce',
  ],
  [
    'softbank sender domain does not exist',
    '553 shop.example.com does not exist',
    'rejected',
    'bounce',
  ],

  // Postfix
  [
    'postfix local recipient table',
    '550 5.1.1 <someone@example.net>: Recipient address rejected: User unknown in local recipient table',
    'hard',
    'bounce',
  ],
  [
    'postfix virtual mailbox table',
    '550 5.1.1 <someone@example.net>: Recipient address rejected: User unknown in virtual mailbox table',
    'hard',
    'bounce',
  ],
  [
    'postfix greylisted',
    '450 4.2.0 <someone@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html',
    'soft',
    'retry',
  ],
  [
    'postfix too many connections',
    '421 4.7.0 mx.example.net Error: too many connections from 203.0.113.10',
    'connections',
    'retry-throttled',
  ],
  [
    'postfix zen blocked',
    '554 5.7.1 Service unavailable; Client host [203.0.113.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.10',
    'block',
    'bounce',
  ],
  [
    'postfix sender domain not found',
    '450 4.1.8 <bounce@shop.example.com>: Sender address rejected: Domain not found',
    'policy',
    'retry',
  ],
  ['postfix size limit', '552 5.3.4 Message size exceeds fixed limit', 'message-too-big', 'bounce'],
  [
    'postfix no reverse hostname',
    '450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.10]',
    'auth',
    'retry',
  ],
  [
    'postfix relay denied',
    '554 5.7.1 <someone@example.net>: Relay access denied',
    'routing',
    'bounce',
  ],
  ['postfix system storage', '452 4.3.1 Insufficient system storage', 'soft', 'retry'],

  [
    'postfix null MX',
    '556 5.1.10 <someone@example.com>: Recipient address rejected: Domain example.com does not accept mail (nullMX)',
    'hard',
    'bounce',
  ],
  ['postfix bad sequence', '503 5.5.1 Error: need MAIL command', 'protocol', 'bounce'],

  // Exim
  ['exim (cPanel) no such user', '550 No Such User Here', 'hard', 'bounce'],
  [
    'exim sender verify',
    '550-Verification failed for <bounce@shop.example.com>\r\n550-Unrouteable address\r\n550 Sender verify failed',
    'policy',
    'bounce',
  ],
  [
    'exim concurrent connections',
    '421 Too many concurrent SMTP connections; please try again later.',
    'connections',
    'retry-throttled',
  ],
  [
    'exim ratelimit',
    '450 4.7.1 Sender rate overlimit - 120.3 / 1h / per_rcpt',
    'throttled',
    'retry-throttled',
  ],
  ['exim quota', '550 Mailbox quota exceeded', 'mailbox-full', 'bounce'],
  [
    'exim temporary local problem',
    '451 Temporary local problem - please try later',
    'soft',
    'retry',
  ],
  [
    'exim message too big',
    '552 Message size exceeds maximum permitted',
    'message-too-big',
    'bounce',
  ],

  // Sendmail
  ['sendmail user unknown', '550 5.1.1 <someone@example.org>... User unknown', 'hard', 'bounce'],
  [
    'sendmail connection rate',
    '421 4.3.2 Connection rate limit exceeded.',
    'connections',
    'retry-throttled',
  ],
  [
    'sendmail sender domain',
    '553 5.1.8 <bounce@shop.example.com>... Domain of sender address bounce@shop.example.com does not exist',
    'policy',
    'bounce',
  ],
  ['sendmail disk space', '452 4.4.5 Insufficient disk space; try again later', 'soft', 'retry'],
  [
    'sendmail relaying denied',
    '550 5.7.1 <someone@example.org>... Relaying denied',
    'routing',
    'bounce',
  ],

  // qmail and others
  ['qmail chkuser', '511 sorry, no mailbox here by that name (#5.1.1 - chkuser)', 'hard', 'bounce'],
  [
    'J:COM too many messages per session',
    '421 #4.x.2 Too many messages for this session',
    'throttled',
    'retry-throttled',
  ],
  ['generic 5xx', '554 Transaction failed', 'rejected', 'bounce'],
  [
    'generic 421 shutting down',
    '421 4.3.2 Service shutting down, closing transmission channel',
    'soft',
    'retry',
  ],
  ['STARTTLS required', '530 5.7.0 Must issue a STARTTLS command first', 'protocol', 'bounce'],
];

test('this corpus holds at least 25 real-world replies', () => {
  assert.ok(REPLIES.length >= 25, `only ${REPLIES.length} replies`);
});

const classify = createBounceClassifier();
for (const [name, reply, category, action] of REPLIES) {
  test(`real reply: ${name} -> ${category}/${action}`, () => {
    const result = classify({ text: reply });
    assert.equal(result.category, category, `rule ${result.rule} on: ${result.text}`);
    assert.equal(result.action, action);
    assert.equal(result.suppress, category === 'hard' && action === 'bounce');
  });
}
