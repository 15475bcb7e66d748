import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enhancedCodeMatches, isEnhancedCode, parseSmtpReply } from './smtp-reply.ts';

test('a multi-line reply loses its per-line prefixes and joins into one line', () => {
  const parsed = parseSmtpReply(
    '550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n' +
      "550-5.1.1 double-checking the recipient's email address for typos or\r\n" +
      '550 5.1.1  https://support.google.com/mail/?p=NoSuchUser - gsmtp',
  );
  assert.deepEqual(parsed, {
    code: 550,
    enhancedCode: '5.1.1',
    text:
      'The email account that you tried to reach does not exist. Please try ' +
      "double-checking the recipient's email address for typos or " +
      'https://support.google.com/mail/?p=NoSuchUser - gsmtp',
  });
});

test('text without a code prefix keeps its leading enhanced code as the enhanced code', () => {
  assert.deepEqual(parseSmtpReply('4.7.0 [TSS04] Messages deferred'), {
    enhancedCode: '4.7.0',
    text: '[TSS04] Messages deferred',
  });
});

test('a reply without an enhanced code has none', () => {
  assert.deepEqual(parseSmtpReply('550 Unknown user a@docomo.ne.jp'), {
    code: 550,
    text: 'Unknown user a@docomo.ne.jp',
  });
});

test('an embedded qmail-style #code is found when none leads the text', () => {
  assert.equal(
    parseSmtpReply('511 sorry, no mailbox here (#5.1.1 - chkuser)').enhancedCode,
    '5.1.1',
  );
  assert.equal(parseSmtpReply('550 see 5.1.1 in the docs').enhancedCode, undefined);
});

test('a leading #x.y.z counts, and numbers that only look like codes do not', () => {
  assert.equal(parseSmtpReply('421 #4.4.2 Too many').enhancedCode, '4.4.2');
  // Yahoo's "554 30 Sorry ... (554.30)" has no enhanced code.
  assert.equal(parseSmtpReply('554 30 Sorry (554.30)').enhancedCode, undefined);
  assert.equal(parseSmtpReply('550 3.1.1 odd').enhancedCode, undefined);
});

test('the first line with a code gives the code; empty input gives empty text', () => {
  assert.equal(parseSmtpReply('451-first\n452 second').code, 451);
  assert.deepEqual(parseSmtpReply(''), { text: '' });
  assert.deepEqual(parseSmtpReply('421'), { code: 421, text: '' });
});

test('isEnhancedCode accepts only class 2, 4 or 5 with numeric parts', () => {
  assert.equal(isEnhancedCode('5.7.650'), true);
  assert.equal(isEnhancedCode('2.0.0'), true);
  assert.equal(isEnhancedCode('3.1.1'), false);
  assert.equal(isEnhancedCode('5.7'), false);
  assert.equal(isEnhancedCode('5.7.x'), false);
});

test('enhanced code patterns: exact, any class, any detail, numeric comparison', () => {
  assert.equal(enhancedCodeMatches('5.1.1', '5.1.1'), true);
  assert.equal(enhancedCodeMatches('5.1.1', '5.1.10'), false);
  assert.equal(enhancedCodeMatches('*.2.2', '4.2.2'), true);
  assert.equal(enhancedCodeMatches('*.2.2', '5.2.2'), true);
  assert.equal(enhancedCodeMatches('5.7.*', '5.7.606'), true);
  assert.equal(enhancedCodeMatches('5.7.*', '4.7.606'), false);
  assert.equal(enhancedCodeMatches('5.7.26', '5.7.026'), true);
  assert.equal(enhancedCodeMatches('5.7', '5.7.1'), false);
});
