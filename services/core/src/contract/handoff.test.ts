import assert from 'node:assert/strict';
import { test } from 'node:test';
import { handoffReplies } from './handoff.ts';

test('a hand-off answer reads back as it was written', () => {
  assert.deepEqual(handoffReplies.decode(handoffReplies.ok()), { ok: true });
  assert.deepEqual(handoffReplies.decode(handoffReplies.error('HIKYAKU_X', 'why')), {
    ok: false,
    code: 'HIKYAKU_X',
    message: 'why',
  });
});

test('an answer that is neither OK nor a coded error is no OK', () => {
  for (const data of ['', 'OK', 'ok ', '{"message":"no code"}', '[1]', 'null']) {
    const answer = handoffReplies.decode(Buffer.from(data));
    assert.equal(answer.ok, false, JSON.stringify(data));
    assert.equal(answer.ok ? '' : answer.code, 'HIKYAKU_HANDOFF_REPLY_UNREADABLE');
  }
});
