import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greetingPause } from './greeting.ts';

test('only untrusted clients of the relay listener wait for the greeting', () => {
  const pause = 100;
  assert.equal(
    greetingPause({ listener: 'relay', trusted: false, earlyTalkerPauseMs: pause }),
    100,
  );
  assert.equal(greetingPause({ listener: 'relay', trusted: true, earlyTalkerPauseMs: pause }), 0);
  for (const listener of ['submission', 'smtps'] as const) {
    assert.equal(greetingPause({ listener, trusted: false, earlyTalkerPauseMs: pause }), 0);
  }
  assert.equal(greetingPause({ listener: 'relay', trusted: false, earlyTalkerPauseMs: 0 }), 0);
});
