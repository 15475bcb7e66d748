import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BounceAction, createBounceClassifier } from './bounce-classifier.ts';
import type { BounceCategory } from './bounce-rules.ts';

/**
 * More replies as receivers send them, sorted by what shaping must tell apart: a block of
 * the sending IP, a throttle of the IP, a connection limit, one busy mailbox, a full
 * mailbox, an unknown user, authentication and policy, content, routing. From Gmail,
 * Microsoft, Yahoo and Yahoo! JAPAN, the Japanese carriers (docomo, au, SoftBank), Apple,
 * Comcast, Orange, and the Mimecast and Proofpoint gateways in front of many companies.
 * Addresses and IPs are replaced by documentation values.
 */
const REPLIES: ReadonlyArray<readonly [string, string, BounceCategory, BounceAction]> = [
  // Gmail
  [
    'gmail low IP reputation',
    '550-5.7.1 [203.0.113.10] Our system has detected that this message is likely\r\n550-5.7.1 suspicious due to the very low reputation of the sending IP address.\r\n550-5.7.1 To best protect our users from spam, the message has been blocked.\r\n550 5.7.1 Please visit https://support.google.com/mail/answer/188131 for more information. - gsmtp',
    'block',
    'bounce',
  ],
  [
    'gmail low domain reputation, temporary',
    '421-4.7.0 This message is suspicious due to the very low reputation of the\r\n421-4.7.0 sending domain. To best protect our users from spam, the message has\r\n421 4.7.0 been blocked. - gsmtp',
    'block',
    'retry',
  ],
  [
    'gmail recipient receiving too quickly (452)',
    '452-4.2.1 The recipient you are trying to contact is receiving mail at a rate\r\n452-4.2.1 that prevents additional messages from being delivered. - gsmtp',
    'recipient-rate',
    'retry',
  ],
  [
    'gmail inbox out of storage',
    "552-5.2.2 The recipient's inbox is out of storage space. Please direct the\r\n552 5.2.2 recipient to https://support.google.com/mail/?p=OverQuotaPerm - gsmtp",
    'mailbox-full',
    'bounce',
  ],
  [
    'gmail virus',
    '552-5.7.0 This message was blocked because its content presents a potential\r\n552 5.7.0 security issue. - gsmtp',
    'content',
    'bounce',
  ],
  // Microsoft
  [
    'outlook traffic not accepted from this IP',
    '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.',
    'block',
    'bounce',
  ],
  [
    'outlook server busy AS730',
    '451 4.7.500 Server busy. Please try again later from [203.0.113.10]. (AS730)',
    'throttled',
    'retry-throttled',
  ],
  [
    'exchange concurrent connections',
    '421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel',
    'connections',
    'retry-throttled',
  ],
  [
    'exchange hop count',
    '554 5.4.14 Hop count exceeded - possible mail loop ATTR34',
    'routing',
    'bounce',
  ],
  // Yahoo and Yahoo! JAPAN
  [
    'yahoo TSS04 volume',
    '421 4.7.0 [TSS04] Messages from 203.0.113.10 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes',
    'throttled',
    'retry-throttled',
  ],
  [
    'yahoo PH01 phishing',
    '554 Message not allowed - [PH01] Email not accepted for policy reasons. Please visit https://postmaster.yahooinc.com/error-codes',
    'content',
    'bounce',
  ],
  [
    'yahoo.co.jp unknown user',
    '550 5.1.1 <someone@yahoo.co.jp>: Recipient address rejected: User unknown',
    'hard',
    'bounce',
  ],
  [
    'yahoo.co.jp too many connections',
    '421 4.7.0 too many connections from 203.0.113.10',
    'connections',
    'retry-throttled',
  ],
  // docomo, au, SoftBank
  ['docomo unknown user', '550 Unknown user someone@docomo.ne.jp', 'hard', 'bounce'],
  ['docomo too many recipients', '552 too many recipients', 'throttled', 'retry-throttled'],
  [
    'au unknown user',
    '550 5.1.1 <someone@ezweb.ne.jp>: Recipient address rejected: User unknown in local recipient table',
    'hard',
    'bounce',
  ],
  [
    'au concurrent connections',
    '421 4.7.0 too many concurrent SMTP connections; please try again later',
    'connections',
    'retry-throttled',
  ],
  ['softbank unknown user', '550 5.1.1 <someone@i.softbank.jp>... User unknown', 'hard', 'bounce'],
  [
    'softbank mailbox full',
    '552 5.2.2 <someone@i.softbank.jp>... Mailbox full',
    'mailbox-full',
    'bounce',
  ],
  // Apple
  [
    'icloud HM08 too many recipients',
    '550 5.7.1 [HM08] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137',
    'policy',
    'bounce',
  ],
  [
    'icloud spf',
    '554 5.7.1 [HME1] This message was blocked for failing SPF checks. Please visit https://support.apple.com/en-us/HT204137',
    'auth',
    'bounce',
  ],
  // Comcast
  [
    'comcast DNSBL',
    '554 resimta-ch2-17v.sys.comcast.net resimta-ch2-17v.sys.comcast.net 203.0.113.10 found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000001',
    'block',
    'bounce',
  ],
  [
    'comcast too many sessions',
    '421 resimta-po-27v.sys.comcast.net 203.0.113.10 Too many sessions opened',
    'connections',
    'retry-throttled',
  ],
  [
    'comcast unknown user',
    '550 5.1.1 someone@comcast.net not found. Please see http://postmaster.comcast.net/smtp-error-codes.php#550-5.1.1',
    'hard',
    'bounce',
  ],
  // Orange
  [
    'orange too many connections',
    '421 mwinf5c05 ME Trop de connexions, veuillez verifier votre configuration. Too many connections, slow down. OFR005_104 [104]',
    'connections',
    'retry-throttled',
  ],
  [
    'orange service refused, try later',
    '421 mwinf5c20 ME Service refuse. Veuillez essayer plus tard. Service refused, please try later. OFR006_104 [104]',
    'throttled',
    'retry-throttled',
  ],
  [
    'orange reputation',
    '550 5.7.1 Service unavailable; client [203.0.113.10] blocked using Orange reputation OFR_997 [997]',
    'block',
    'bounce',
  ],
  // Mimecast
  [
    'mimecast open relay',
    '451 Open relay not allowed - https://community.mimecast.com/docs/DOC-1369#451',
    'routing',
    'retry',
  ],
  [
    'mimecast envelope blocked',
    '550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550',
    'block',
    'bounce',
  ],
  [
    'mimecast anti-spoofing',
    '550 Rejected by header based Anti-Spoofing policy: someone@example.org - https://community.mimecast.com/docs/DOC-1369#550',
    'policy',
    'bounce',
  ],
  // Proofpoint
  [
    'proofpoint dnsbl',
    '550 5.7.1 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.10',
    'block',
    'bounce',
  ],
  [
    'proofpoint reputation, temporary',
    '421 4.7.0 [203.0.113.10] Your IP has been temporarily blocked due to poor reputation - see https://ipcheck.proofpoint.com/?ip=203.0.113.10',
    'block',
    'retry',
  ],
  [
    'proofpoint message rejected as spam',
    '554 5.7.1 Message rejected as spam by Content Filtering',
    'content',
    'bounce',
  ],
];

const classify = createBounceClassifier();
for (const [name, reply, category, action] of REPLIES) {
  test(`real reply: ${name} -> ${category}/${action}`, () => {
    const result = classify({ text: reply });
    assert.equal(result.category, category, `rule ${result.rule} on: ${result.text}`);
    assert.equal(result.action, action);
    assert.equal(result.suppress, category === 'hard' && action === 'bounce');
  });
}
