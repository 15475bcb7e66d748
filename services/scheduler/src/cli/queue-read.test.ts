import assert from 'node:assert/strict';
import { test } from 'node:test';
import { age, describeCause } from './queue-read.ts';

test('ages read at a glance', () => {
  assert.deepEqual([0, 12_400, 185_000, 3_720_000, 3 * 86_400_000 + 7_200_000].map(age), [
    '0s',
    '12s',
    '3m05s',
    '1h02m',
    '3d02h',
  ]);
});

test('each cause says why, with the time that ends the wait', () => {
  const t = Date.UTC(2026, 11, 5, 12);
  assert.equal(
    describeCause({ kind: 'retry', items: 2, nextAt: t }),
    '2 retry wait: next attempt 2026-12-05T12:00:00.000Z',
  );
  assert.equal(
    describeCause({ kind: 'warmup-cap', items: 4, nextDay: t, ips: ['127.0.0.3'] }),
    "4 warm-up cap: 127.0.0.3 used today's cap; next day 2026-12-05T12:00:00.000Z",
  );
  assert.equal(
    describeCause({
      kind: 'throttled',
      items: 1,
      nextTurnAt: t,
      throttles: [{ ip: '127.0.0.2', site: 's', messagesPerMinute: 30, declared: 60, ceiling: 40 }],
    }),
    '1 throttled: 127.0.0.2 30/min learned (declared 60); next turn 2026-12-05T12:00:00.000Z',
  );
  assert.match(describeCause({ kind: 'held', items: 3, since: t }), /^3 held since 2026-12-05T12/);
  assert.match(describeCause({ kind: 'no-active-ip', items: 1 }), /^1 no active IP/);
});
