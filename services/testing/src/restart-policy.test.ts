import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { keepRunning, type RestartEvent, restartDelay } from './restart-policy.ts';

test('restarts wait longer after each failure in a row, up to a ceiling', () => {
  const policy = { firstDelayMs: 500, maxDelayMs: 30_000, healthyAfterMs: 60_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 7, 8, 20].map((n) => restartDelay(n, policy)),
    [500, 1000, 2000, 4000, 30_000, 30_000, 30_000],
  );
});

class FakeChild extends EventEmitter {
  constructor(readonly pid: number) {
    super();
  }
}

test('an unexpected exit is reported and relaunched; a stopped child is not', async () => {
  const events: RestartEvent[] = [];
  let next = 100;
  const children: FakeChild[] = [];
  const keeper = keepRunning({
    name: 'scheduler',
    policy: { firstDelayMs: 1, maxDelayMs: 4, healthyAfterMs: 60_000 },
    relaunch: async () => {
      const child = new FakeChild(++next);
      children.push(child);
      return child;
    },
    report: (e) => events.push(e),
  });
  const first = new FakeChild(100);
  keeper.watch(first);
  first.emit('exit', null, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(
    events.map((e) => [e.kind, e.reason, e.pid]),
    [
      ['exited', 'killed by SIGKILL', undefined],
      ['restarted', 'killed by SIGKILL', 101],
    ],
  );
  children[0]?.emit('exit', 1, null);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(events[2]?.reason, 'exited with code 1');
  assert.equal(events[2]?.delayMs, 2, 'the second failure in a row waits twice as long');
  keeper.stop();
  children[1]?.emit('exit', 0, null);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(events.length, 4, 'nothing after stop');
});
