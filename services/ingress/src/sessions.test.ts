import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SMTPServerSession } from 'smtp-server';
import { SessionState } from './session-state.ts';
import { createSessionTracker } from './sessions.ts';

/** A session as far as the tracker looks at it, and the replies it was sent. */
function fakeSession(name: string, replies: string[], inTransaction = false) {
  const session = {
    id: name,
    envelope: { mailFrom: inTransaction ? { address: 'a@example.test' } : false },
  } as unknown as SMTPServerSession;
  const handle = {
    send: (code: number, text: string) => replies.push(`${name} ${code} ${text}`),
    close: () => undefined,
  };
  return new SessionState(session, handle);
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await sleep(20);
  assert.ok(check(), what);
}

test('sessions opened one after another each reach their own time limit, in that order', async () => {
  const tracker = createSessionTracker({
    maxSessions: 10,
    sessionTimeoutMs: 150,
    // Not what this test is about: a real session closes at its 421, these do when told.
    transactionGraceMs: 60_000,
  });
  const replies: string[] = [];
  const a = fakeSession('a', replies);
  const b = fakeSession('b', replies);
  const c = fakeSession('c', replies);
  assert.equal(tracker.open(a), undefined);
  await sleep(60);
  assert.equal(tracker.open(b), undefined);
  // Closed before its limit: it is never told anything.
  tracker.close(b);
  await sleep(60);
  assert.equal(tracker.open(c), undefined);
  await until('both sessions reached their limit', () => replies.length >= 2);
  assert.deepEqual(replies, [
    'a 421 4.4.2 Session time limit reached',
    'c 421 4.4.2 Session time limit reached',
  ]);
  tracker.close(a);
  tracker.close(c);
  // A session opened after all others closed has a limit of its own again.
  const d = fakeSession('d', replies);
  assert.equal(tracker.open(d), undefined);
  await until('the later session reached its limit', () => replies.length >= 3);
  assert.equal(replies[2], 'd 421 4.4.2 Session time limit reached');
  tracker.close(d);
});

test('a session in a transaction at its limit is ended when it ends, or after the grace', async () => {
  const tracker = createSessionTracker({
    maxSessions: 10,
    sessionTimeoutMs: 50,
    transactionGraceMs: 1000,
  });
  const replies: string[] = [];
  const busy = fakeSession('busy', replies, true);
  const finishing = fakeSession('finishing', replies, true);
  tracker.open(busy);
  tracker.open(finishing);
  await until('both due', () => tracker.ending(finishing) === 'sessionTimeout');
  assert.equal(tracker.ending(busy), 'sessionTimeout');
  assert.deepEqual(replies, []);
  tracker.transactionEnded(finishing);
  await until('the finished transaction ended its session', () => replies.length >= 1);
  assert.equal(replies[0], 'finishing 421 4.4.2 Session time limit reached');
  await until('the grace ended the other', () => replies.length >= 2);
  assert.equal(replies[1], 'busy 421 4.4.2 Session time limit reached');
  tracker.close(busy);
  tracker.close(finishing);
});
