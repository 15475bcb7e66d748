import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBulkMail } from './bulk.ts';
import {
  addedHeaders,
  dateLine,
  headerSection,
  messageHead,
  messageIdOf,
  missingFields,
  receivedHeader,
  rfc5322Date,
} from './headers.ts';

const info = {
  clientHelo: 'app.example.test',
  clientAddress: '192.0.2.7',
  hostname: 'relay.hikyaku.test',
  queueId: 'Q1',
  authenticated: false,
  rcpts: ['a@example.test'],
  date: 'Mon, 30 Nov 2026 12:00:00 +0000',
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

test('a UTF-8 recipient of an SMTPUTF8 transaction is written as UTF-8, with UTF8SMTP', () => {
  const added = addedHeaders(Buffer.from('Date: x\r\nMessage-ID: <m@c>\r\n\r\n'), {
    ...info,
    clientHelo: 'xn--hllo-bpa.example.test',
    smtputf8: true,
    rcpts: ['jürgen@example.test'],
  });
  const text = added.toString('utf8');
  assert.match(text, /^Received: from xn--hllo-bpa\.example\.test /);
  assert.match(text, /with UTF8SMTP\r\n/);
  assert.match(text, /\tfor <jürgen@example\.test>;/);
  assert.ok(added.includes(Buffer.from('j\xc3\xbcrgen', 'latin1')), 'ü is written as UTF-8');
});

test('a client value that could end the line is written without its line break', () => {
  // Each of these characters has CR or LF as its low byte: written as Latin-1, they
  // would start a new header field.
  const trap = 'x\u300d\u300aX-Injected:\u3020yes';
  const added = addedHeaders(Buffer.from('Date: x\r\nMessage-ID: <m@c>\r\n\r\n'), {
    ...info,
    clientHelo: trap,
    smtputf8: true,
    rcpts: [`${trap}\r\nX-Other: 1\u2028\u0085@example.test`],
  });
  assert.doesNotMatch(added.toString('latin1'), /\r\nX-/);
  assert.match(added.toString('utf8'), /^Received: from x\?\?X-Injected:\?yes /);
  assert.match(
    added.toString('utf8'),
    /for <x\u300d\u300aX-Injected:\u3020yes\?\?X-Other:\?1\?\?@/,
  );
});

/** A seeded generator, so that a failing run can be repeated. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Random text weighted towards what breaks headers: line ends, controls, separators,
 * characters whose low byte is CR or LF, surrogates and astral characters. */
function randomText(random: () => number): string {
  const pick = [
    () => String.fromCharCode(Math.floor(random() * 0x20)),
    () =>
      ['\r', '\n', '\r\n', '\u2028', '\u2029', '\u0085', '\u007f', '\ufeff'][
        Math.floor(random() * 8)
      ] as string,
    () =>
      String.fromCharCode(
        (Math.floor(random() * 0xff) << 8) | [0x0d, 0x0a][Math.floor(random() * 2)]!,
      ),
    () => String.fromCharCode(0xd800 + Math.floor(random() * 0x800)),
    () => String.fromCodePoint(0x10000 + Math.floor(random() * 0xfffff)),
    () => String.fromCharCode(0x20 + Math.floor(random() * 0x5f)),
    () => String.fromCharCode(Math.floor(random() * 0x10000)),
  ];
  let text = '';
  const length = Math.floor(random() * 40);
  for (let i = 0; i < length; i++) text += pick[Math.floor(random() * pick.length)]!();
  return text;
}

test('fuzz: whatever the EHLO name and recipient, the added fields stay the fields written', () => {
  const seed = Number(process.env.HIKYAKU_FUZZ_SEED ?? 20261205);
  const random = generator(seed);
  for (let run = 0; run < 5000; run++) {
    const helo = randomText(random);
    const rcpt = `${randomText(random)}@${randomText(random)}`;
    const smtputf8 = random() < 0.5;
    const added = addedHeaders(Buffer.from('Subject: x\r\n\r\n'), {
      ...info,
      clientHelo: helo,
      smtputf8,
      rcpts: [rcpt],
    });
    const where = `seed ${seed}, run ${run}: ${JSON.stringify({ helo, rcpt, smtputf8 })}`;
    // Valid UTF-8: decoding and encoding again gives the same bytes.
    assert.ok(Buffer.from(added.toString('utf8'), 'utf8').equals(added), where);
    // No control byte but the CRLF of a line end and the TAB of a folded line.
    const bytes = added.toString('latin1');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control bytes
    assert.doesNotMatch(bytes.replace(/\r\n/g, '').replace(/\t/g, ''), /[\x00-\x1f\x7f]/, where);
    // Exactly the three fields, each line a field name or a folded continuation.
    const fields = bytes
      .split('\r\n')
      .filter((line) => line !== '' && !line.startsWith('\t'))
      .map((line) => line.slice(0, line.indexOf(':')));
    assert.deepEqual(fields, ['Received', 'Date', 'Message-ID'], where);
    // No Unicode line or paragraph separator either, whatever the reader.
    assert.doesNotMatch(added.toString('utf8'), /[\u0085\u2028\u2029]/, where);
  }
});

test('the head of a message in pieces holds its whole header section, whatever the split', () => {
  const message = 'Subject: x\r\nDate: y\r\n\r\nbody\r\nDate: in the body\r\n';
  for (let size = 1; size <= message.length; size++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < message.length; at += size) {
      chunks.push(Buffer.from(message.slice(at, at + size)));
    }
    const head = messageHead(chunks);
    assert.equal(headerSection(head), 'Subject: x\r\nDate: y\r\n', `pieces of ${size}`);
    assert.ok(head.length < message.length || size >= 24, `pieces of ${size}`);
  }
  const noBody = [Buffer.from('Subject: x\r\n'), Buffer.from('Date: y\r\n')];
  assert.equal(messageHead(noBody).toString(), 'Subject: x\r\nDate: y\r\n');
});

test('a first piece that holds the whole header section is the head itself, not a copy', () => {
  const first = Buffer.from('Subject: x\r\nDate: y\r\n\r\nbody\r\n');
  assert.equal(messageHead([first, Buffer.from('more body\r\n')]), first);
});

test('the header section read once answers every question a message would', () => {
  const message = Buffer.from(
    'Subject: x\r\nMessage-ID:\r\n <m@c>\r\nList-Unsubscribe: <mailto:u@c>\r\n\r\nDate: body\r\n',
  );
  const header = headerSection(message);
  assert.deepEqual(missingFields(header), missingFields(message));
  assert.deepEqual(missingFields(header), { date: true, messageId: false });
  assert.equal(messageIdOf(header), 'm@c');
  assert.equal(isBulkMail(header), true);
  assert.equal(
    isBulkMail(headerSection(Buffer.from('Subject: x\r\n\r\nPrecedence: bulk\r\n'))),
    false,
  );
});

test('the date line is the date of the second asked for, whichever way the clock moves', () => {
  const date = dateLine();
  const second = Date.UTC(2026, 11, 31, 23, 59, 59);
  const cases = [second, second + 999, second + 1000, second + 1999, second - 1, second + 500];
  for (const ms of cases) assert.equal(date(ms), rfc5322Date(new Date(ms)), String(ms));
  assert.equal(date(second + 999), 'Thu, 31 Dec 2026 23:59:59 +0000');
  assert.equal(date(second + 1000), 'Fri, 01 Jan 2027 00:00:00 +0000');
  assert.equal(date(second - 1), 'Thu, 31 Dec 2026 23:59:58 +0000');
});
