import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BounceAction, createBounceClassifier } from './bounce-classifier.ts';
import type { BounceCategory } from './bounce-rules.ts';

/**
 * Replies as the big mailbox providers send them: Gmail, Outlook.com / Office 365,
 * Yahoo / AOL and iCloud.
 * Addresses and IPs are replaced by documentation values. Each row: who sends it, the raw
 * reply as the sender reports it, and what the scheduler must make of it.
 */
const REPLIES: ReadonlyArray<readonly [string, string, BounceCategory, BounceAction]> = [
  // Gmail / Google Workspace
  [
    'gmail no such user',
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550-5.1.1 unnecessary spaces. Learn more at\r\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser d75a77b69052e-4b2b8e1f5a1si123 - gsmtp",
    'hard',
    'bounce',
  ],
  [
    'gmail account disabled',
    '550-5.2.1 The email account that you tried to reach is disabled. Learn more at\r\n550 5.2.1  https://support.google.com/mail/?p=DisabledUser - gsmtp',
    'hard',
    'bounce',
  ],
  [
    'gmail over quota',
    '452-4.2.2 The email account that you tried to reach is over quota. Please direct\r\n452-4.2.2 the recipient to\r\n452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp - gsmtp',
    'mailbox-full',
    'retry',
  ],
  [
    'gmail unusual rate 4.7.28',
    '421-4.7.28 [203.0.113.10      15] Our system has detected an unusual rate of\r\n421-4.7.28 unsolicited mail originating from your IP address. To protect our\r\n421-4.7.28 users from spam, mail sent from your IP address has been temporarily\r\n421-4.7.28 rate limited. Please visit\r\n421 4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines. - gsmtp',
    'throttled',
    'retry-throttled',
  ],
  [
    'gmail unusual rate 4.7.0 (older form)',
    '421-4.7.0 [203.0.113.10      15] Our system has detected an unusual rate of\r\n421-4.7.0 unsolicited mail originating from your IP address. To protect our\r\n421-4.7.0 users from spam, mail sent from your IP address has been temporarily\r\n421 4.7.0 blocked. - gsmtp',
    'throttled',
    'retry-throttled',
  ],
  [
    'gmail recipient receiving too fast',
    '450-4.2.1 The user you are trying to contact is receiving mail at a rate that\r\n450-4.2.1 prevents additional messages from being delivered. Please resend your\r\n450 4.2.1 message at a later time. - gsmtp',
    'recipient-rate',
    'retry',
  ],
  [
    'gmail likely unsolicited',
    '550-5.7.1 [203.0.113.10] Our system has detected that this message is\r\n550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\r\n550 5.7.1 this message has been blocked. - gsmtp',
    'content',
    'bounce',
  ],
  [
    'gmail unauthenticated 5.7.26',
    '550-5.7.26 This mail is unauthenticated, which poses a security risk to the\r\n550-5.7.26 sender and Gmail users, and has been blocked. The sender must\r\n550 5.7.26 authenticate with at least one of SPF or DKIM. - gsmtp',
    'auth',
    'bounce',
  ],
  [
    'gmail dmarc policy',
    "550-5.7.26 Unauthenticated email from shop.example.com is not accepted due to\r\n550 5.7.26 domain's DMARC policy. - gsmtp",
    'auth',
    'bounce',
  ],
  [
    'gmail message too big',
    "552-5.3.4 Your message exceeded Google's message size limits. Please visit\r\n552 5.3.4  https://support.google.com/mail/?p=MaxSizeError - gsmtp",
    'message-too-big',
    'bounce',
  ],
  [
    'gmail temporary system problem',
    '421-4.3.0 Temporary System Problem. Try again later (10). - gsmtp',
    'throttled',
    'retry-throttled',
  ],
  [
    'gmail missing PTR',
    '550-5.7.25 [203.0.113.10] The IP address sending this message does not have a\r\n550 5.7.25 PTR record setup. - gsmtp',
    'auth',
    'bounce',
  ],
  [
    'gmail try again later at EHLO',
    '421 4.7.0 Try again later, closing connection. (EHLO) - gsmtp',
    'throttled',
    'retry-throttled',
  ],

  // Outlook.com / Office 365
  [
    'outlook mailbox unavailable',
    '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DM6PR02MB1234.namprd02.prod.outlook.com]',
    'hard',
    'bounce',
  ],
  [
    'office365 recipient not found',
    '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
    'hard',
    'bounce',
  ],
  [
    'office365 edge blocking',
    '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM4PEPF00027A5C.eurprd04.prod.outlook.com]',
    'hard',
    'bounce',
  ],
  [
    'outlook IP reputation rate limit 4.7.650',
    '451 4.7.650 The mail server [203.0.113.10] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [BN8NAM11FT012.eop-nam11.prod.protection.outlook.com]',
    'throttled',
    'retry-throttled',
  ],
  [
    'outlook block list S3150',
    "550 5.7.1 Unfortunately, messages from [203.0.113.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
    'block',
    'bounce',
  ],
  [
    'outlook hourly limits RP-001',
    "421 RP-001 (BAY004-MC1F15) Unfortunately, some messages from 203.0.113.10 weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day. You can also refer to http://mail.live.com/mail/troubleshooting.aspx#errors.",
    'throttled',
    'retry-throttled',
  ],
  [
    'office365 server busy',
    '451 4.7.500 Server busy. Please try again later from [203.0.113.10]. (S77714) [Hostname=DM5PR19MB1234.namprd19.prod.outlook.com]',
    'throttled',
    'retry-throttled',
  ],
  [
    'office365 banned sending IP',
    '550 5.7.606 Access denied, banned sending IP [203.0.113.10]. To request removal from this list please visit https://sender.office.com/ and follow the directions.',
    'block',
    'bounce',
  ],
  [
    'office365 dmarc reject',
    '550 5.7.509 Access denied, sending domain shop.example.com does not pass DMARC verification and has a DMARC policy of reject.',
    'auth',
    'bounce',
  ],
  [
    'office365 mailbox full',
    '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded',
    'mailbox-full',
    'bounce',
  ],
  [
    'office365 too many recipients',
    '452 4.5.3 Too many recipients (AS780090) [BN8NAM11FT012.eop-nam11.prod.protection.outlook.com]',
    'throttled',
    'retry-throttled',
  ],

  [
    'office365 allowed senders',
    '550 5.7.124 RESOLVER.RST.SenderNotInAllowedSendersList; sender not in allowed-senders list',
    'policy',
    'bounce',
  ],

  // Yahoo / AOL
  [
    'yahoo TSS04',
    '421 4.7.0 [TSS04] Messages from 203.0.113.10 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes',
    'throttled',
    'retry-throttled',
  ],
  [
    'yahoo TS01',
    '421 4.7.0 [TS01] Messages from 203.0.113.10 temporarily deferred due to user complaints - 4.16.55.1; see https://help.yahoo.com/kb/postmaster/SLN3434.html',
    'throttled',
    'retry-throttled',
  ],
  [
    'yahoo TS02',
    '421 4.7.0 [TS02] Messages from 203.0.113.10 temporarily deferred - 4.16.56.1; see https://help.yahoo.com/kb/postmaster/SLN3434.html',
    'throttled',
    'retry-throttled',
  ],
  [
    'yahoo TSS09 permanent block',
    '553 5.7.2 [TSS09] All messages from 203.0.113.10 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes',
    'block',
    'bounce',
  ],
  [
    'yahoo no such account',
    "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1123.mail.bf1.yahoo.com",
    'hard',
    'bounce',
  ],
  [
    'yahoo mailbox disabled',
    '554 30 Sorry, your message to someone@aol.com cannot be delivered. This mailbox is disabled (554.30).',
    'hard',
    'bounce',
  ],
  [
    'yahoo spamhaus',
    "553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.10, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
    'block',
    'bounce',
  ],
  [
    'yahoo unauthenticated',
    '550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.',
    'auth',
    'bounce',
  ],
  [
    'yahoo policy reasons',
    '554 5.7.9 Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes',
    'policy',
    'bounce',
  ],
  [
    'yahoo max messages per connection',
    '421 Max message per connection reached, closing transmission channel',
    'throttled',
    'retry-throttled',
  ],

  // iCloud
  [
    'icloud user does not exist',
    '550 5.1.1 <someone@icloud.com>: user does not exist',
    'hard',
    'bounce',
  ],
  [
    'icloud inactive address',
    '550 5.1.1 <someone@icloud.com>: inactive email address',
    'hard',
    'bounce',
  ],
  [
    'icloud over quota',
    '552 5.2.2 <someone@icloud.com>: user is over quota',
    'mailbox-full',
    'bounce',
  ],
  [
    'icloud excessive volume',
    '421 4.7.1 Messages to someone@icloud.com deferred due to excessive volume. Try again later - https://support.apple.com/en-us/HT204137',
    'throttled',
    'retry-throttled',
  ],
  [
    'icloud local policy CS01',
    '550 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137',
    'content',
    'bounce',
  ],
  [
    'icloud dmarc',
    "554 5.7.1 Your message was rejected due to shop.example.com's DMARC policy. See https://support.apple.com/en-us/HT204137 for",
    'auth',
    'bounce',
  ],
];

test('this corpus holds at least 40 real-world replies', () => {
  assert.ok(REPLIES.length >= 40, `only ${REPLIES.length} replies`);
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
