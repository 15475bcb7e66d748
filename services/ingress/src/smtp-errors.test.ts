import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { REPLIES, type RefusalReason, SmtpReplyError } from './smtp-errors.ts';

const reasons = Object.keys(REPLIES) as RefusalReason[];
const docs = readFileSync(new URL('../../../docs/ingress.md', import.meta.url), 'utf8');
const sources = readdirSync(new URL('.', import.meta.url))
  .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts') && name !== 'smtp-errors.ts')
  .map((name) => readFileSync(new URL(name, import.meta.url), 'utf8'))
  .join('\n');

test('every reply has an enhanced status code of its own class', () => {
  for (const reason of reasons) {
    const { code, text } = REPLIES[reason];
    const enhanced = /^(\d)\.\d{1,3}\.\d{1,3} \S/.exec(text);
    assert.ok(enhanced, `${reason}: "${text}"`);
    assert.equal(enhanced[1], String(code)[0], reason);
  }
});

test('every reply is documented in docs/ingress.md with its code and text', () => {
  for (const reason of reasons) {
    const { code, text } = REPLIES[reason];
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${reason}\` |`));
    assert.ok(row, `docs/ingress.md has no row for ${reason}`);
    assert.ok(
      row.includes(`\`${code} ${text}`),
      `the row of ${reason} does not show "${code} ${text}"`,
    );
  }
});

test('every reply is used by the ingress', () => {
  for (const reason of reasons) {
    assert.match(sources, new RegExp(`'${reason}'`), `${reason} is never used`);
  }
});

test('a refusal carries the code smtp-server sends and a bounded detail', () => {
  const err = new SmtpReplyError('suppressed', `hard-bounce${'x'.repeat(500)}`);
  assert.equal(err.responseCode, 550);
  assert.equal(err.reason, 'suppressed');
  assert.equal(err.code, 'HIKYAKU_SMTP_REFUSED');
  assert.ok(err.message.startsWith('5.1.1 Recipient address is suppressed: hard-bounce'));
  assert.ok(err.message.length < 260);
});
