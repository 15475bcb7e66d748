import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLocalAuthThrottle, throttleKey } from './auth-throttle.ts';

const options = { baseDelayMs: 100, maxDelayMs: 300, maxFailures: 4, lockoutMs: 60_000 };

test('delays double up to the cap, then the limit locks the address', () => {
  let t = 0;
  const throttle = createLocalAuthThrottle(options, () => t);
  assert.deepEqual(throttle.failure('192.0.2.1'), { failures: 1, delayMs: 100, locked: false });
  assert.deepEqual(throttle.failure('192.0.2.1'), { failures: 2, delayMs: 200, locked: false });
  assert.deepEqual(throttle.failure('192.0.2.1'), { failures: 3, delayMs: 300, locked: false });
  assert.equal(throttle.isLocked('192.0.2.1'), false);
  assert.deepEqual(throttle.failure('192.0.2.1'), { failures: 4, delayMs: 0, locked: true });
  assert.equal(throttle.isLocked('192.0.2.1'), true);
  assert.equal(throttle.isLocked('192.0.2.2'), false);
  t += 59_999;
  assert.equal(throttle.isLocked('192.0.2.1'), true);
  t += 1;
  assert.equal(throttle.isLocked('192.0.2.1'), false);
  assert.equal(throttle.failure('192.0.2.1').failures, 1);
});

test('a success forgets the failures of the address', () => {
  const throttle = createLocalAuthThrottle(options, () => 0);
  throttle.failure('192.0.2.1');
  throttle.failure('192.0.2.1');
  throttle.success('192.0.2.1');
  assert.equal(throttle.failure('192.0.2.1').failures, 1);
});

test('IPv6 clients are counted per /64; mapped IPv4 as IPv4', () => {
  assert.equal(throttleKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(throttleKey('2001:0db8:0001:0002:ffff:0:0:9'), '2001:db8:1:2::/64');
  assert.equal(throttleKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(throttleKey('::ffff:192.0.2.1'), '192.0.2.1');
  const throttle = createLocalAuthThrottle({ ...options, maxFailures: 2 }, () => 0);
  throttle.failure('2001:db8:1:2::1');
  throttle.failure('2001:db8:1:2::ffff');
  assert.equal(throttle.isLocked('2001:db8:1:2:1:2:3:4'), true);
  assert.equal(throttle.isLocked('2001:db8:1:3::1'), false);
});

test('memory is bounded: the least recently failing addresses are forgotten', () => {
  const throttle = createLocalAuthThrottle({ ...options, maxFailures: 1, maxEntries: 3 }, () => 0);
  for (const last of ['1', '2', '3', '4']) throttle.failure(`192.0.2.${last}`);
  assert.equal(throttle.isLocked('192.0.2.1'), false);
  assert.equal(throttle.isLocked('192.0.2.4'), true);
});
