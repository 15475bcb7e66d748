import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecipientOutcome } from '@hikyaku/core';
import { createBounceClassifier } from '@hikyaku/core/policy';
import { judgeOutcomes } from './outcomes.ts';

const classify = createBounceClassifier({ throttlePatterns: ['TS04'] });

function outcome(o: Partial<RecipientOutcome> & { code: number; text: string }): RecipientOutcome {
  return { rcpt: `${o.code}@example.test`, status: o.code >= 500 ? 'failed' : 'deferred', ...o };
}

test('a hard bounce bounces and suppresses; a mailbox full bounces without suppressing', () => {
  const j = judgeOutcomes(
    [
      outcome({ code: 550, enhanced: '5.1.1', text: '5.1.1 <a@x> User unknown' }),
      outcome({ code: 552, enhanced: '5.2.2', text: '5.2.2 Mailbox full' }),
      { rcpt: 'ok@example.test', status: 'delivered', code: 250, text: 'Ok' },
    ],
    classify,
  );
  assert.equal(j.delivered.length, 1);
  assert.deepEqual(
    j.bounced.map((b) => [b.outcome.code, b.classification.suppress]),
    [
      [550, true],
      [552, false],
    ],
  );
  assert.equal(j.throttled, false);
});

test('"slow down" replies are deferred and signal, even as 5xx; greylisting does not', () => {
  const slow = judgeOutcomes(
    [
      outcome({ code: 552, text: 'too many recipients' }),
      outcome({ code: 421, text: '4.7.0 [TS04] busy' }),
    ],
    classify,
  );
  assert.equal(slow.bounced.length, 0);
  assert.equal(slow.deferred.length, 2);
  assert.equal(slow.throttled, true);
  const grey = judgeOutcomes(
    [outcome({ code: 450, text: '4.2.0 greylisted, come back' })],
    classify,
  );
  assert.equal(grey.throttled, false);
});

test('timeouts signal the rate; resets, refusals and connection limits signal connections', () => {
  const reset = outcome({
    code: 451,
    enhanced: '4.4.2',
    text: 'lost connection',
    errorCode: 'ECONNRESET',
  });
  assert.equal(judgeOutcomes([reset], classify).signal, 'connections');
  const timeout = { ...reset, errorCode: 'ETIMEDOUT' };
  assert.equal(judgeOutcomes([timeout], classify).signal, 'rate');
  const refused = { ...reset, enhanced: '4.4.1', errorCode: 'ECONNREFUSED' };
  assert.equal(judgeOutcomes([refused], classify).signal, 'connections');
  const limit = outcome({ code: 421, text: '4.7.0 Too many connections from your IP' });
  assert.equal(judgeOutcomes([limit], classify).signal, 'connections');
  // A rate reply in the same result wins: the rate is what must come down first.
  assert.equal(
    judgeOutcomes([limit, outcome({ code: 421, text: '[TS04]' })], classify).signal,
    'rate',
  );
});

test('one busy mailbox is retried alone and slows nothing', () => {
  const busy = outcome({
    code: 450,
    enhanced: '4.2.1',
    text: '4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.',
  });
  const j = judgeOutcomes([busy], classify);
  assert.equal(j.deferred.length, 1);
  assert.equal(j.throttled, false);
  assert.equal(j.signal, undefined);
});
