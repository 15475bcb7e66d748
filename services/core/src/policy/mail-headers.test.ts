import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bareAddress,
  firstHeader,
  headerBlock,
  localPart,
  parseHeaderBlock,
  toHeaderMap,
} from './mail-headers.ts';

test('the header block stops at the first empty line and ends in CRLF', () => {
  assert.equal(headerBlock('A: 1\nB: 2\n\nbody\n'), 'A: 1\r\nB: 2\r\n');
  assert.equal(headerBlock('A: 1\r\n'), 'A: 1\r\n');
  assert.equal(headerBlock(''), '');
  assert.equal(headerBlock(Buffer.from('X: y\r\n\r\nz')), 'X: y\r\n');
});

test('folded headers are unfolded; names are lower-cased; repeats are kept in order', () => {
  const map = parseHeaderBlock(
    'Received: from a\r\n\tby b\r\nReceived: from c\r\nContent-Type: multipart/report;\r\n report-type=delivery-status\r\n',
  );
  assert.deepEqual(map.get('received'), ['from a by b', 'from c']);
  assert.equal(firstHeader(map, 'Content-Type'), 'multipart/report; report-type=delivery-status');
  assert.equal(firstHeader(map, 'missing'), undefined);
});

test('lines that are not headers are skipped rather than glued to a neighbour', () => {
  const map = parseHeaderBlock('From nobody Mon Jan  1\r\nSubject: hi\r\n');
  assert.deepEqual([...map.keys()], ['subject']);
});

test('records and maps become header maps with lower-case names', () => {
  const fromRecord = toHeaderMap({ 'Auto-Submitted': 'no', Received: ['a', 'b'], Skip: undefined });
  assert.deepEqual(fromRecord.get('auto-submitted'), ['no']);
  assert.deepEqual(fromRecord.get('received'), ['a', 'b']);
  assert.equal(fromRecord.has('skip'), false);
  assert.deepEqual(toHeaderMap(new Map([['X-A', ['1']]])).get('x-a'), ['1']);
});

test('bare addresses and local parts', () => {
  assert.equal(
    bareAddress('Mail Delivery System <MAILER-DAEMON@example.org>'),
    'MAILER-DAEMON@example.org',
  );
  assert.equal(bareAddress('<>'), '');
  assert.equal(bareAddress(' a@b.example '), 'a@b.example');
  assert.equal(localPart('Postmaster@Example.org'), 'postmaster');
  assert.equal(localPart('"odd@local"@example.org'), '"odd@local"');
});
