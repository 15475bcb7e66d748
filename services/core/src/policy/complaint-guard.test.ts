import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_COMPLAINT_GUARD,
  judgeComplaintRate,
  resolveComplaintGuard,
} from './complaint-guard.ts';
import { BadFeedbackError } from './errors.ts';

describe('the complaint-rate guard', () => {
  const guard = resolveComplaintGuard({});

  it('defaults to warn at 0.1 %, defer at 0.3 % over 7 days after 1000 deliveries', () => {
    assert.deepEqual(guard, DEFAULT_COMPLAINT_GUARD);
  });

  it('judges nothing before the domain delivered enough', () => {
    assert.equal(judgeComplaintRate(guard, { delivered: 999, complaints: 50 }).level, 'ok');
  });

  it('warns above the warning rate and stops above the stop rate', () => {
    assert.deepEqual(judgeComplaintRate(guard, { delivered: 10_000, complaints: 10 }), {
      level: 'ok',
      rate: 0.001,
      hold: false,
    });
    assert.equal(judgeComplaintRate(guard, { delivered: 10_000, complaints: 11 }).level, 'warn');
    assert.deepEqual(judgeComplaintRate(guard, { delivered: 10_000, complaints: 31 }), {
      level: 'stop',
      rate: 0.0031,
      hold: true,
    });
  });

  it('only reports with action warn', () => {
    const warnOnly = resolveComplaintGuard({ action: 'warn' });
    const verdict = judgeComplaintRate(warnOnly, { delivered: 1000, complaints: 100 });
    assert.equal(verdict.level, 'stop');
    assert.equal(verdict.hold, false);
  });

  it('refuses rates out of range, a warning above the stop and a partial-day window', () => {
    assert.throws(() => resolveComplaintGuard({ stopRate: 0 }), BadFeedbackError);
    assert.throws(() => resolveComplaintGuard({ warnRate: 0.01, stopRate: 0.005 }), /warnRate/);
    assert.throws(() => resolveComplaintGuard({ window: '36h' }), /whole days/);
    assert.throws(() => resolveComplaintGuard({ minDelivered: 0 }), /minDelivered/);
    assert.equal(resolveComplaintGuard({ window: '30d' }).windowDays, 30);
  });
});
