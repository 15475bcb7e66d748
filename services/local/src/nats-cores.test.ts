import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOCAL_NATS_CORES, natsCoresOf } from './stack.ts';

test('a local stack runs nats-server on one core unless asked otherwise or GOMAXPROCS is set', () => {
  assert.equal(LOCAL_NATS_CORES, 1);
  assert.equal(natsCoresOf(undefined, {}), 1);
  // GOMAXPROCS in the environment reaches nats-server as it is.
  assert.equal(natsCoresOf(undefined, { GOMAXPROCS: '4' }), undefined);
  assert.equal(natsCoresOf(2, {}), 2);
  assert.equal(natsCoresOf(2, { GOMAXPROCS: '4' }), 2);
  // 0: Go's default, every core.
  assert.equal(natsCoresOf(0, {}), undefined);
});
