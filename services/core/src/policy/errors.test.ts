import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HikyakuError } from '../errors.ts';
import * as errors from './errors.ts';

const dir = new URL('.', import.meta.url);
const policySources = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'errors.ts')
  .map((f) => readFileSync(new URL(f, dir), 'utf8'))
  .join('\n');
const errorClasses = Object.entries(errors).filter(
  (entry): entry is [string, typeof errors.PolicyError] =>
    typeof entry[1] === 'function' && entry[1] !== errors.PolicyError,
);

test('every error code is documented and belongs to exactly one error class', () => {
  const source = readFileSync(new URL('errors.ts', dir), 'utf8');
  for (const [code, description] of Object.entries(errors.POLICY_ERROR_CODES)) {
    assert.ok(description.length > 10, `${code} is documented`);
    assert.equal(source.match(new RegExp(`super\\('${code}'`, 'g'))?.length, 1, code);
  }
});

test('every error class is thrown somewhere in the policy', () => {
  assert.ok(errorClasses.length >= Object.keys(errors.POLICY_ERROR_CODES).length);
  for (const [name] of errorClasses) {
    assert.match(policySources, new RegExp(`new ${name}\\(`), `${name} is never thrown`);
  }
});

test('errors carry their class name, a stable code and their cause', () => {
  const cause = new Error('inner');
  const error = new errors.BadTimeZoneError('Mars/Olympus', cause);
  assert.ok(error instanceof errors.PolicyError && error instanceof HikyakuError);
  assert.equal(error.name, 'BadTimeZoneError');
  assert.equal(error.code, 'HIKYAKU_BAD_TIME_ZONE');
  assert.equal(error.cause, cause);
  assert.equal(error.value, 'Mars/Olympus');
});
