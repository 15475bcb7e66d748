import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFullHold, isOutOfSpace } from './store.ts';

/** The shape of @nats-io/jetstream's JetStreamApiError: the server's err_code as `code`. */
class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

test('JetStream out of space is told apart from other store failures', () => {
  assert.ok(isOutOfSpace(new ApiError('insufficient resources', 10023)));
  assert.ok(isOutOfSpace(new ApiError('insufficient storage resources available', 10047)));
  // Wrapped, as the object store of large bodies and the store's own error wrap it.
  const wrapped = new Error('put failed', {
    cause: new Error('chunk', { cause: new ApiError('x', 10023) }),
  });
  assert.ok(isOutOfSpace(wrapped));
  assert.ok(isOutOfSpace(new Error('nats: insufficient resources')));
  assert.ok(!isOutOfSpace(new ApiError('stream not found', 10059)));
  assert.ok(!isOutOfSpace(new Error('TIMEOUT')));
  assert.ok(!isOutOfSpace('insufficient resources'));
  assert.ok(!isOutOfSpace(undefined));
});

test('the hold lasts its time after a refusal and ends with a stored message', () => {
  let now = 1000;
  const hold = createFullHold({ holdMs: 5000, now: () => now });
  assert.equal(hold.active(), false);
  hold.refused();
  now += 4999;
  assert.equal(hold.active(), true);
  now += 1;
  assert.equal(hold.active(), false, 'after the hold the next message is tried again');
  hold.refused();
  assert.equal(hold.active(), true);
  hold.stored();
  assert.equal(hold.active(), false, 'a stored message means space is back');
});
