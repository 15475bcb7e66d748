import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createInflightBudget } from './inflight.ts';

test('messages share the budget; what does not fit is refused and nothing is counted', () => {
  const budget = createInflightBudget(100);
  const a = budget.reserve();
  const b = budget.reserve();
  assert.equal(a.add(60), true);
  assert.equal(b.add(30), true);
  assert.equal(b.add(20), false);
  assert.equal(budget.held, 90);
  assert.equal(budget.admits(0), true);
  assert.equal(budget.admits(11), false);
  assert.equal(a.add(10), true);
  assert.equal(budget.admits(0), false, 'a full budget admits no new transaction');
  a.release();
  a.release();
  assert.equal(budget.held, 30);
  b.release();
  assert.equal(budget.held, 0);
});
