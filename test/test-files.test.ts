import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { listTestFiles, SLOWEST_FIRST } from './test-files.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('the slow test files are run first, then every other one once, in order', () => {
  const files = listTestFiles();
  for (const path of SLOWEST_FIRST) {
    assert.ok(existsSync(`${ROOT}/${path}`), `${path} is listed as slow but does not exist`);
  }
  assert.deepEqual(files.slice(0, SLOWEST_FIRST.length), SLOWEST_FIRST);
  const rest = files.slice(SLOWEST_FIRST.length);
  assert.deepEqual(rest, [...rest].sort());
  assert.equal(new Set(files).size, files.length);
  assert.ok(files.includes('test/test-files.test.ts'));
  assert.ok(files.includes('services/core/src/body-store.test.ts'));
  assert.ok(!files.some((path) => /(^|\/)(node_modules|dist)\//.test(path)));
});
