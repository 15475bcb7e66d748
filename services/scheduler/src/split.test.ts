import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupByDomain, groupKey, splitRecipients } from './split.ts';

test('recipients group by lower-cased domain, trailing dot ignored', () => {
  const groups = groupByDomain(['a@X.test', 'b@x.test.', 'c@y.test']);
  assert.deepEqual(
    [...groups],
    [
      ['x.test', ['a@X.test', 'b@x.test.']],
      ['y.test', ['c@y.test']],
    ],
  );
});

test('a group larger than recipients-per-message is split into parts', () => {
  const rcpts = Array.from({ length: 7 }, (_, i) => `u${i}@x.test`);
  assert.deepEqual(
    splitRecipients(rcpts, 3).map((p) => p.length),
    [3, 3, 1],
  );
  assert.equal(splitRecipients(rcpts, 100).length, 1);
  assert.equal(groupKey({ domain: 'x.test' }), 'x.test');
  assert.equal(groupKey({ domain: 'x.test', part: 0 }), 'x.test');
  assert.equal(groupKey({ domain: 'x.test', part: 2 }), 'x.test#2');
});
