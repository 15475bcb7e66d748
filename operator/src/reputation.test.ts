import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyReputation, type IpReputation } from '@hikyaku/core/policy';
import type { IpStatusRow } from './kube/objects.ts';
import { reputationEvents, reputationRow, resumeRequest } from './reputation.ts';

const SINCE = Date.parse('2026-12-01T09:00:00Z');
const listed: IpReputation = {
  ...emptyReputation('203.0.113.7', 'mta1.example.com'),
  listings: [
    {
      zone: 'zen.spamhaus.org',
      action: 'pause',
      codes: ['127.0.0.2'],
      meaning: 'SBL',
      since: SINCE,
    },
  ],
  paused: { reason: 'listed', detail: 'listed on zen.spamhaus.org: SBL', since: SINCE },
};
const row = (reputation?: IpReputation): IpStatusRow => ({
  address: '203.0.113.7',
  state: reputation?.paused ? 'Paused' : 'Active',
  ...(reputation ? { reputation: reputationRow(reputation) } : {}),
});

describe('reputation rows and Events', () => {
  it('a paused IP shows reason, since-when and zones', () => {
    assert.deepEqual(reputationRow(listed), {
      condition: 'Paused',
      reason: 'listed',
      since: '2026-12-01T09:00:00Z',
      listedOn: ['zen.spamhaus.org'],
      message: 'listed on zen.spamhaus.org: SBL',
    });
    assert.deepEqual(reputationRow(emptyReputation('203.0.113.7', 'mta1.example.com')), {
      condition: 'Ok',
    });
  });

  it('every change of standing is one Event, and no change is none', () => {
    const paused = reputationEvents([row()], [row(listed)]);
    assert.deepEqual(
      paused.map((e) => [e.type, e.reason]),
      [['Warning', 'IpPaused']],
    );
    assert.deepEqual(reputationEvents([row(listed)], [row(listed)]), []);
    const { paused: _p, ...resumedState } = listed;
    const resumed = reputationEvents([row(listed)], [row({ ...resumedState, listings: [] })]);
    assert.deepEqual(
      resumed.map((e) => e.reason),
      ['IpResumed', 'IpDelisted'],
    );
    const warn = reputationEvents([row()], [row({ ...resumedState, listings: listed.listings })]);
    assert.deepEqual(
      warn.map((e) => e.reason),
      ['IpListed'],
    );
  });

  it('the annotation names IPs before an optional ";nonce"', () => {
    assert.deepEqual(resumeRequest('203.0.113.7, 2001:db8::1;1733390000'), [
      '203.0.113.7',
      '2001:db8::1',
    ]);
    assert.deepEqual(resumeRequest(undefined), []);
    assert.deepEqual(resumeRequest(';x'), []);
  });
});
