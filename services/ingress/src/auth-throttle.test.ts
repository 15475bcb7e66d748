import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLocalAuthThrottle, throttleKey } from './auth-throttle.ts';

const options = { baseDelayMs: 100, maxDelayMs: 300, maxFailures: 4, lockoutMs: 60_000 };

test('delays double up to the cap, the attempt at the limit locks, later ones are refused', () => {
  let t = 0;
  const throttle = createLocalAuthThrottle(options, () => t);
  const ifFailed = (address: string) => {
    const admission = throttle.attempt(address);
    return admission.admitted ? admission.ifFailed : 'refused';
  };
  assert.deepEqual(ifFailed('192.0.2.1'), { failures: 1, delayMs: 100, locked: false });
  assert.deepEqual(ifFailed('192.0.2.1'), { failures: 2, delayMs: 200, locked: false });
  assert.deepEqual(ifFailed('192.0.2.1'), { failures: 3, delayMs: 300, locked: false });
  assert.deepEqual(ifFailed('192.0.2.1'), { failures: 4, delayMs: 0, locked: true });
  assert.equal(ifFailed('192.0.2.1'), 'refused');
  assert.deepEqual(ifFailed('192.0.2.2'), { failures: 1, delayMs: 100, locked: false });
  // A refused attempt does not extend the lockout: it ends lockoutMs after the 4th.
  t += 59_999;
  assert.equal(ifFailed('192.0.2.1'), 'refused');
  t += 1;
  assert.deepEqual(ifFailed('192.0.2.1'), { failures: 1, delayMs: 100, locked: false });
});

test('attempts are counted before they are checked: at most the limit is ever admitted', () => {
  const throttle = createLocalAuthThrottle(options, () => 0);
  // Nothing has failed yet; all of them are in flight at once.
  const admitted = Array.from({ length: 60 }, () => throttle.attempt('192.0.2.1')).filter(
    (a) => a.admitted,
  );
  assert.equal(admitted.length, options.maxFailures);
});

test('a success forgets the attempts of the address', () => {
  const throttle = createLocalAuthThrottle(options, () => 0);
  throttle.attempt('192.0.2.1');
  throttle.attempt('192.0.2.1');
  throttle.success('192.0.2.1');
  const next = throttle.attempt('192.0.2.1');
  assert.ok(next.admitted && next.ifFailed.failures === 1);
});

test('IPv6 clients are counted per /64; mapped IPv4 as IPv4', () => {
  assert.equal(throttleKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(throttleKey('2001:0db8:0001:0002:ffff:0:0:9'), '2001:db8:1:2::/64');
  assert.equal(throttleKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(throttleKey('::ffff:192.0.2.1'), '192.0.2.1');
  const throttle = createLocalAuthThrottle({ ...options, maxFailures: 2 }, () => 0);
  throttle.attempt('2001:db8:1:2::1');
  throttle.attempt('2001:db8:1:2::ffff');
  assert.equal(throttle.attempt('2001:db8:1:2:1:2:3:4').admitted, false);
  assert.equal(throttle.attempt('2001:db8:1:3::1').admitted, true);
});

test('memory is bounded: the least recently counted addresses are forgotten', () => {
  const throttle = createLocalAuthThrottle({ ...options, maxFailures: 1, maxEntries: 3 }, () => 0);
  for (const last of ['1', '2', '3', '4']) throttle.attempt(`192.0.2.${last}`);
  assert.equal(throttle.attempt('192.0.2.1').admitted, true);
  assert.equal(throttle.attempt('192.0.2.4').admitted, false);
});
