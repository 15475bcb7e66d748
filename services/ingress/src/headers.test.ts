import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addedHeaders,
  headerSection,
  messageIdOf,
  missingFields,
  receivedHeader,
} from './headers.ts';

const info = {
  clientHelo: 'app.example.test',
  clientAddress: '192.0.2.7',
  hostname: 'relay.hikyaku.test',
  queueId: 'Q1',
  authenticated: false,
  rcpts: ['a@example.test'],
  now: new Date(Date.UTC(2026, 10, 30, 12, 0, 0)),
};

test('Received names client, relay, queue id, TLS details and the one recipient', () => {
  const plain = receivedHeader(info);
  assert.equal(
    plain,
    'Received: from app.example.test ([192.0.2.7])\r\n' +
      '\tby relay.hikyaku.test (hikyaku) with ESMTP\r\n' +
      '\tid Q1\r\n\tfor <a@example.test>;\r\n' +
      '\tMon, 30 Nov 2026 12:00:00 +0000\r\n',
  );
  const tls = receivedHeader({
    ...info,
    clientAddress: '2001:db8::7',
    authenticated: true,
    tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    rcpts: ['a@example.test', 'b@example.test'],
  });
  assert.match(tls, /\(\[IPv6:2001:db8::7\]\)/);
  assert.match(tls, /with ESMTPSA \(using TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384\)/);
  assert.doesNotMatch(tls, /for </);
});

test('the header section ends at the first empty line', () => {
  const message = Buffer.from('Subject: x\r\nDate: y\r\n\r\nDate: in the body\r\n');
  assert.equal(headerSection(message), 'Subject: x\r\nDate: y\r\n');
  assert.equal(headerSection(Buffer.from('\r\nbody only\r\n')), '');
  assert.equal(headerSection(Buffer.from('Subject: only\r\n')), 'Subject: only\r\n');
});

test('Date and Message-ID are recognised in any case, not in the body or folded lines', () => {
  assert.deepEqual(missingFields(Buffer.from('DATE: x\r\nmessage-ID : <a@b>\r\n\r\nbody\r\n')), {
    date: false,
    messageId: false,
  });
  assert.deepEqual(
    missingFields(Buffer.from('Subject: x\r\n Date: folded\r\n\r\nMessage-ID: <a@b>\r\n')),
    { date: true, messageId: true },
  );
});

test('added headers go in front; the message itself is not touched', () => {
  const message = Buffer.from('Subject: x\r\n\r\nbody\r\n');
  const added = addedHeaders(message, info).toString('latin1');
  assert.ok(added.startsWith('Received: '));
  assert.match(added, /\r\nDate: Mon, 30 Nov 2026 12:00:00 \+0000\r\n/);
  assert.match(added, /\r\nMessage-ID: <Q1@relay\.hikyaku\.test>\r\n$/);
  const complete = Buffer.from('Date: x\r\nMessage-ID: <m@c>\r\n\r\nbody\r\n');
  assert.equal(addedHeaders(complete, info).toString('latin1'), receivedHeader(info));
});

test('the Message-ID is read from the header section only, unfolded, without brackets', () => {
  const of = (text: string) => messageIdOf(Buffer.from(text));
  assert.equal(of('Subject: x\r\nMessage-ID: <a.1@app.test>\r\n\r\nbody'), 'a.1@app.test');
  assert.equal(of('message-id:\r\n <folded@app.test>\r\n\r\n'), 'folded@app.test');
  assert.equal(of('Subject: x\r\n\r\nMessage-ID: <in-body@app.test>\r\n'), undefined);
  assert.equal(of('Subject: no id\r\n\r\n'), undefined);
});
