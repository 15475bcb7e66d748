import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import {
  buildDsn,
  type DsnInput,
  encodeOrcpt,
  encodeXtext,
  notifyWants,
  shouldSendDsn,
} from './dsn.ts';
import { PolicyError } from './errors.ts';

const ARRIVAL = Date.UTC(2026, 10, 1, 9, 0, 0);
const NOW = Date.UTC(2026, 10, 1, 9, 5, 0);

const ORIGINAL =
  'From: Shop <orders@shop.example.com>\r\n' +
  'To: someone@example.org\r\n' +
  'Subject: Your order\r\n' +
  'Message-ID: <order-42@shop.example.com>\r\n' +
  'Content-Type: text/plain\r\n' +
  '\r\n' +
  'The body must not be quoted back.\r\n';

function seq(): () => number {
  let i = 0;
  return () => {
    i = (i + 1) % 256;
    return i / 256;
  };
}

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mta1.shop.example.com',
    envelopeFrom: '<bounces@shop.example.com>',
    arrivalDate: ARRIVAL,
    now: NOW,
    originalHeaders: ORIGINAL,
    rng: seq(),
    recipients: [
      {
        recipient: 'someone@example.org',
        action: 'failed',
        status: '5.1.1',
        remoteMta: 'mx.example.org',
        diagnostic: {
          code: 550,
          text: "5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.",
        },
        lastAttemptAt: NOW,
      },
    ],
    ...overrides,
  };
}

/** The body parts of a multipart message, split on its boundary, each as [headers, body]. */
function parts(raw: string, boundary: string): Array<{ headers: string; body: string }> {
  const chunks = raw.split(`--${boundary}`);
  assert.ok(chunks.at(-1)?.startsWith('--'), 'closing boundary present');
  return chunks.slice(1, -1).map((chunk) => {
    const [headers = '', ...rest] = chunk.replace(/^\r\n/, '').split('\r\n\r\n');
    return { headers, body: rest.join('\r\n\r\n') };
  });
}

/** Delivery-status fields, unfolded, as [field, value] pairs per block. */
function statusBlocks(body: string): Array<Map<string, string>> {
  return body
    .trim()
    .split(/\r\n\r\n/)
    .map(
      (block) =>
        new Map(
          block
            .replace(/\r\n[ \t]+/g, ' ')
            .split('\r\n')
            .map((line) => {
              const colon = line.indexOf(':');
              return [line.slice(0, colon), line.slice(colon + 1).trim()] as [string, string];
            }),
        ),
    );
}

test('a DSN parses as multipart/report with the three parts in order', async () => {
  const dsn = await buildDsn(input());
  const mail = await simpleParser(dsn.raw);
  const type = mail.headers.get('content-type') as {
    value: string;
    params: Record<string, string>;
  };
  assert.equal(type.value, 'multipart/report');
  assert.equal(type.params['report-type'], 'delivery-status');
  const boundary = type.params.boundary ?? '';
  const found = parts(dsn.raw.toString(), boundary);
  assert.deepEqual(
    found.map((p) => /^Content-Type: ([^;\r\n]+)/im.exec(p.headers)?.[1]),
    ['text/plain', 'message/delivery-status', 'text/rfc822-headers'],
  );
});

test('it comes from the null sender, to the envelope sender, marked auto-replied', async () => {
  const dsn = await buildDsn(input());
  assert.deepEqual(dsn.envelope, { from: '', to: ['bounces@shop.example.com'] });
  const mail = await simpleParser(dsn.raw);
  assert.equal(mail.headers.get('auto-submitted'), 'auto-replied');
  assert.equal(mail.from?.value[0]?.address, 'MAILER-DAEMON@mta1.shop.example.com');
  const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
  assert.equal(to?.value[0]?.address, 'bounces@shop.example.com');
  assert.equal(mail.subject, 'Undelivered Mail Returned to Sender');
  assert.equal(mail.date?.getTime(), NOW);
  assert.equal(mail.messageId, dsn.messageId);
  assert.equal(mail.inReplyTo, '<order-42@shop.example.com>');
});

test('the delivery-status part carries the per-message and per-recipient fields', async () => {
  const dsn = await buildDsn(input({ envelopeId: 'QQ314159' }));
  const raw = dsn.raw.toString();
  const boundary = /boundary="([^"]+)"/.exec(raw)?.[1] ?? '';
  const status = parts(raw, boundary)[1];
  assert.ok(status !== undefined);
  const [message, recipient] = statusBlocks(status.body);
  assert.equal(message?.get('Reporting-MTA'), 'dns; mta1.shop.example.com');
  assert.equal(message?.get('Original-Envelope-Id'), 'QQ314159');
  assert.equal(message?.get('Arrival-Date'), 'Sun, 01 Nov 2026 09:00:00 +0000');
  assert.equal(recipient?.get('Final-Recipient'), 'rfc822; someone@example.org');
  assert.equal(recipient?.get('Action'), 'failed');
  assert.equal(recipient?.get('Status'), '5.1.1');
  assert.equal(recipient?.get('Remote-MTA'), 'dns; mx.example.org');
  assert.equal(
    recipient?.get('Diagnostic-Code'),
    "smtp; 550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.",
  );
  assert.equal(recipient?.get('Last-Attempt-Date'), 'Sun, 01 Nov 2026 09:05:00 +0000');
  assert.ok(
    status.body.split('\r\n').every((line) => line.length <= 78),
    'long fields are folded',
  );
});

test('the original headers are attached, the body is not', async () => {
  const dsn = await buildDsn(input());
  const mail = await simpleParser(dsn.raw);
  const headers = mail.attachments.find((a) => a.contentType === 'text/rfc822-headers');
  assert.ok(headers !== undefined);
  const text = headers.content.toString();
  assert.match(text, /^From: Shop <orders@shop\.example\.com>\r\n/);
  assert.match(text, /Message-ID: <order-42@shop\.example\.com>/);
  assert.doesNotMatch(dsn.raw.toString(), /must not be quoted back/);
});

test('the human-readable part names each recipient and the remote answer', async () => {
  const dsn = await buildDsn(input());
  const mail = await simpleParser(dsn.raw);
  assert.match(mail.text ?? '', /could not be delivered/);
  assert.match(mail.text ?? '', /<someone@example\.org>/);
  assert.match(
    mail.text ?? '',
    /The server mx\.example\.org answered:\s+550 5\.1\.1 The email account/,
  );
});

test('a delayed-only DSN says so and gives Will-Retry-Until', async () => {
  const until = ARRIVAL + 72 * 3_600_000;
  const dsn = await buildDsn(
    input({
      recipients: [
        {
          recipient: 'late@example.net',
          action: 'delayed',
          status: '4.7.0',
          diagnostic: {
            code: 421,
            enhancedCode: '4.7.0',
            text: '[TSS04] Messages temporarily deferred',
          },
          willRetryUntil: until,
        },
      ],
    }),
  );
  const mail = await simpleParser(dsn.raw);
  assert.equal(mail.subject, 'Delayed Mail (still being retried)');
  const raw = dsn.raw.toString();
  assert.match(raw, /Action: delayed\r\nStatus: 4\.7\.0\r\n/);
  assert.match(raw, /Diagnostic-Code: smtp; 421 4\.7\.0 \[TSS04\] Messages temporarily deferred/);
  assert.match(raw, /Will-Retry-Until: Wed, 04 Nov 2026 09:00:00 \+0000/);
  assert.match(mail.text ?? '', /still being retried/);
});

test('an expired recipient (4.4.7) is explained and several recipients get a block each', async () => {
  const dsn = await buildDsn(
    input({
      recipients: [
        {
          recipient: 'a@example.org',
          action: 'failed',
          status: '4.4.7',
          diagnostic: { code: 421, text: '4.7.0 Try again later' },
        },
        {
          recipient: 'b@example.org',
          originalRecipient: 'rfc822;B@example.org',
          action: 'failed',
          status: '5.2.2',
          diagnostic: { code: 552, text: 'Mailbox full' },
        },
      ],
    }),
  );
  const raw = dsn.raw.toString();
  assert.match(raw, /Final-Recipient: rfc822; a@example\.org\r\nAction: failed\r\nStatus: 4\.4\.7/);
  assert.match(
    raw,
    /Original-Recipient: rfc822;B@example\.org\r\nFinal-Recipient: rfc822; b@example\.org/,
  );
  // The last reply is quoted as it was, not rewritten with the 4.4.7 status.
  assert.match(raw, /Diagnostic-Code: smtp; 421 4\.7\.0 Try again later/);
  assert.match(raw, /Diagnostic-Code: smtp; 552 Mailbox full/);
  const mail = await simpleParser(dsn.raw);
  assert.match(mail.text ?? '', /maximum age/);
});

test('delivery-status stays ASCII: a UTF-8 address is escaped, other text replaced', async () => {
  const dsn = await buildDsn(
    input({
      recipients: [
        {
          recipient: 'ユーザー@example.jp',
          action: 'failed',
          status: '5.1.1',
          diagnostic: { code: 550, enhancedCode: '5.1.1', text: '宛先不明 unknown' },
        },
      ],
    }),
  );
  const raw = dsn.raw.toString();
  assert.match(
    raw,
    /Final-Recipient: utf-8; \\x\{30E6\}\\x\{30FC\}\\x\{30B6\}\\x\{30FC\}@example\.jp/,
  );
  assert.match(raw, /Diagnostic-Code: smtp; 550 5\.1\.1 \?\?\?\? unknown/);
});

test('the same input and rng give the same bytes; the rng decides boundary and id', async () => {
  const a = await buildDsn(input({ rng: seq() }));
  const b = await buildDsn(input({ rng: seq() }));
  assert.deepEqual(a.raw, b.raw);
  const c = await buildDsn(input({ rng: () => 0.999 }));
  assert.notEqual(c.messageId, a.messageId);
  assert.match(a.messageId, /^<[0-9a-f]{32}\.dsn@mta1\.shop\.example\.com>$/);
});

test('a relayed recipient is reported with a success status and the remote reply', async () => {
  const dsn = await buildDsn(
    input({
      envelopeId: 'order-42',
      recipients: [
        {
          recipient: 'someone@example.org',
          originalRecipient: 'rfc822;Someone@Example.org',
          action: 'relayed',
          status: '2.0.0',
          remoteMta: 'mx.example.org',
          diagnostic: { code: 250, enhancedCode: '2.0.0', text: 'Ok: queued as 4Xq1' },
          lastAttemptAt: NOW,
        },
      ],
    }),
  );
  const mail = await simpleParser(dsn.raw);
  assert.equal(mail.subject, 'Successful Mail Delivery Report');
  assert.match(mail.text ?? '', /handed to the mail server/);
  assert.match(mail.text ?? '', /<someone@example\.org>/);
  const raw = dsn.raw.toString();
  const boundary = /boundary="([^"]+)"/.exec(raw)?.[1] ?? '';
  const [message, recipient] = statusBlocks(parts(raw, boundary)[1]?.body ?? '');
  assert.equal(message?.get('Original-Envelope-Id'), 'order-42');
  assert.equal(recipient?.get('Original-Recipient'), 'rfc822;Someone@Example.org');
  assert.equal(recipient?.get('Action'), 'relayed');
  assert.equal(recipient?.get('Status'), '2.0.0');
  assert.equal(recipient?.get('Diagnostic-Code'), 'smtp; 250 2.0.0 Ok: queued as 4Xq1');
  // Only the headers come back, as in every DSN.
  assert.equal(parts(raw, boundary)[2]?.headers.match(/text\/rfc822-headers/)?.length, 1);
  assert.doesNotMatch(raw, /must not be quoted back/);
});

test('a failure and a success never swap status classes', async () => {
  const code = (error: unknown) =>
    error instanceof PolicyError && error.code === 'HIKYAKU_BAD_POLICY_ARGUMENT';
  await assert.rejects(
    buildDsn(
      input({ recipients: [{ recipient: 'a@b.example', action: 'relayed', status: '5.0.0' }] }),
    ),
    code,
  );
  await assert.rejects(
    buildDsn(
      input({ recipients: [{ recipient: 'a@b.example', action: 'delayed', status: '2.0.0' }] }),
    ),
    code,
  );
});

test('notifyWants: without NOTIFY failures and delays, never successes; NEVER nothing', () => {
  assert.equal(notifyWants(undefined, 'FAILURE'), true);
  assert.equal(notifyWants(undefined, 'DELAY'), true);
  assert.equal(notifyWants(undefined, 'SUCCESS'), false);
  for (const kind of ['SUCCESS', 'FAILURE', 'DELAY'] as const) {
    assert.equal(notifyWants(['NEVER'], kind), false, kind);
  }
  assert.equal(notifyWants(['SUCCESS'], 'SUCCESS'), true);
  assert.equal(notifyWants(['SUCCESS'], 'FAILURE'), false);
  assert.equal(notifyWants(['SUCCESS', 'DELAY'], 'FAILURE'), false);
  assert.equal(notifyWants(['FAILURE', 'DELAY'], 'FAILURE'), true);
});

test('xtext leaves printable ASCII as it is and hex-encodes "+", "=", spaces and UTF-8', () => {
  assert.equal(encodeXtext('QQ314159'), 'QQ314159');
  assert.equal(encodeXtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(encodeXtext('caf\u00e9'), 'caf+C3+A9');
  assert.equal(encodeXtext('tab\there'), 'tab+09here');
  assert.equal(encodeOrcpt('rfc822;a+tag@example.org'), 'rfc822;a+2Btag@example.org');
  assert.equal(encodeOrcpt('rfc822;x=y@example.org'), 'rfc822;x+3Dy@example.org');
  assert.equal(encodeOrcpt('no-type'), 'no-type');
});

test('a DSN to the null sender, without recipients or with a bad status is refused', async () => {
  const code = (error: unknown) =>
    error instanceof PolicyError && error.code === 'HIKYAKU_BAD_POLICY_ARGUMENT';
  await assert.rejects(buildDsn(input({ envelopeFrom: '<>' })), code);
  await assert.rejects(buildDsn(input({ recipients: [] })), code);
  await assert.rejects(
    buildDsn(
      input({ recipients: [{ recipient: 'a@b.example', action: 'failed', status: '2.0.0' }] }),
    ),
    code,
  );
  await assert.rejects(buildDsn(input({ rng: () => 1 })), code);
});

test('shouldSendDsn sends for ordinary mail', () => {
  assert.deepEqual(shouldSendDsn('<bounces@shop.example.com>', ORIGINAL), { send: true });
  assert.deepEqual(shouldSendDsn('bounces@shop.example.com', { 'Auto-Submitted': 'no' }), {
    send: true,
  });
});

test('shouldSendDsn refuses the null sender', () => {
  for (const sender of ['', '<>', ' <> ']) {
    assert.deepEqual(shouldSendDsn(sender, ORIGINAL), { send: false, reason: 'null-sender' });
  }
});

test('shouldSendDsn refuses mailer daemons and postmasters, by envelope or From', () => {
  for (const sender of ['MAILER-DAEMON@mx.example.org', '<postmaster@example.org>']) {
    assert.deepEqual(shouldSendDsn(sender, ORIGINAL), { send: false, reason: 'mailer-daemon' });
  }
  assert.deepEqual(
    shouldSendDsn(
      'bounces@example.org',
      'From: Mail Delivery System <MAILER-DAEMON@example.org>\r\n',
    ),
    { send: false, reason: 'mailer-daemon' },
  );
});

test('shouldSendDsn refuses automatic messages and reports, whatever form headers take', () => {
  const sender = 'app@shop.example.com';
  assert.deepEqual(shouldSendDsn(sender, 'Auto-Submitted: auto-replied\r\n'), {
    send: false,
    reason: 'auto-submitted',
  });
  assert.deepEqual(shouldSendDsn(sender, { 'auto-submitted': 'Auto-Generated; owner-email=x' }), {
    send: false,
    reason: 'auto-submitted',
  });
  assert.deepEqual(
    shouldSendDsn(
      sender,
      Buffer.from(
        'Content-Type: multipart/report;\r\n report-type=delivery-status;\r\n boundary=x\r\n\r\n',
      ),
    ),
    { send: false, reason: 'delivery-report' },
  );
  assert.deepEqual(shouldSendDsn(sender, new Map([['X-Failed-Recipients', ['a@example.org']]])), {
    send: false,
    reason: 'delivery-report',
  });
});
