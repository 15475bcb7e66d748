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
  assert.equal(budget.admits(), true);
  assert.equal(a.add(10), true);
  assert.equal(budget.admits(), false, 'a full budget admits no new transaction');
  a.release();
  a.release();
  assert.equal(budget.held, 30);
  b.release();
  assert.equal(budget.held, 0);
});

test('a declared size is set aside first; the data counts against it, then beyond it', () => {
  const budget = createInflightBudget(100);
  const a = budget.reserve();
  assert.equal(a.declare(50), true);
  assert.equal(budget.held, 50);
  const b = budget.reserve();
  assert.equal(b.declare(60), false, 'what does not fit is not set aside');
  assert.equal(budget.held, 50);
  assert.equal(a.add(30), true);
  assert.equal(budget.held, 50, 'within the declared size');
  assert.equal(a.add(30), true);
  assert.equal(budget.held, 60, 'beyond it');
  assert.equal(b.declare(40), true);
  assert.equal(a.add(1), false);
  a.release();
  b.release();
  assert.equal(budget.held, 0);
});
