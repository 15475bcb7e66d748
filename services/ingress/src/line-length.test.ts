import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLineLengthGuard } from './line-length.ts';

function tooLong(chunks: string[], max = 998): boolean {
  const guard = createLineLengthGuard(max);
  for (const chunk of chunks) guard.push(Buffer.from(chunk, 'latin1'));
  return guard.tooLong;
}

test('998 characters before the CRLF pass; 999 do not', () => {
  assert.equal(tooLong([`${'a'.repeat(998)}\r\nshort\r\n`]), false);
  assert.equal(tooLong([`short\r\n${'a'.repeat(999)}\r\n`]), true);
  assert.equal(tooLong([`${'a'.repeat(999)}`]), true);
});

test('a line is measured across chunks, whatever the split', () => {
  const line = `${'a'.repeat(998)}\r\n`;
  for (let at = 0; at <= line.length; at++) {
    assert.equal(tooLong([line.slice(0, at), line.slice(at), line]), false, `split at ${at}`);
    const long = `b${line}`;
    assert.equal(tooLong([long.slice(0, at), long.slice(at)]), true, `long, split at ${at}`);
  }
});

test('the limit can be set; many short lines never add up', () => {
  assert.equal(tooLong(['abcd\r\n', 'abcd\r\n'], 4), false);
  assert.equal(tooLong(['abc', 'de\r\n'], 4), true);
  assert.equal(tooLong(Array.from({ length: 1000 }, () => 'x\r\n')), false);
});
