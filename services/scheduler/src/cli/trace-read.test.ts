import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryEvent } from '@hikyaku/core';
import { timelineOf } from './trace-read.ts';

const base = { v: 1 as const, id: 'Q1', pool: 'p', messageId: 'm@app.test' };

function outcome(
  type: DeliveryEvent['type'],
  rcpt: string,
  at: number,
  extra: Partial<DeliveryEvent>,
): DeliveryEvent {
  return { ...base, type, rcpt, at, ...extra };
}

test('acceptance and each planning are put back from the outcomes that carry them', () => {
  const stored = [
    outcome('delivered', 'b@x.test', 2500, {
      attempt: 1,
      ip: '192.0.2.2',
      delayMs: 2400,
      plannedAt: 2450,
    }),
    outcome('deferred', 'b@x.test', 300, {
      attempt: 0,
      ip: '192.0.2.1',
      delayMs: 200,
      plannedAt: 150,
    }),
    outcome('delivered', 'a@x.test', 300, {
      attempt: 0,
      ip: '192.0.2.1',
      delayMs: 200,
      plannedAt: 150,
    }),
  ];
  assert.deepEqual(
    timelineOf(stored).map((e) =>
      `${e.at} ${e.type} ${e.rcpt} ${e.ip ?? ''} ${e.attempt ?? ''}`.trim(),
    ),
    [
      '100 accepted a@x.test',
      '100 accepted b@x.test',
      '150 scheduled a@x.test 192.0.2.1 0',
      '150 scheduled b@x.test 192.0.2.1 0',
      '300 delivered a@x.test 192.0.2.1 0',
      '300 deferred b@x.test 192.0.2.1 0',
      '2450 scheduled b@x.test 192.0.2.2 1',
      '2500 delivered b@x.test 192.0.2.2 1',
    ],
  );
});

test('stored acceptance and planning (earlier versions, or a first wait) are not repeated', () => {
  const stored = [
    outcome('accepted', 'a@x.test', 90, {}),
    outcome('scheduled', 'a@x.test', 150, { attempt: 0, ip: '192.0.2.1' }),
    outcome('delivered', 'a@x.test', 300, {
      attempt: 0,
      ip: '192.0.2.1',
      delayMs: 200,
      plannedAt: 150,
    }),
  ];
  assert.deepEqual(
    timelineOf(stored).map((e) => `${e.at} ${e.type}`),
    ['90 accepted', '150 scheduled', '300 delivered'],
  );
});

test('an outcome without planning (suppressed, expired) adds only the acceptance', () => {
  const stored = [outcome('suppressed', 'a@x.test', 105, { delayMs: 5 })];
  assert.deepEqual(
    timelineOf(stored).map((e) => `${e.at} ${e.type}`),
    ['100 accepted', '105 suppressed'],
  );
});
