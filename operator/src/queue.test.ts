import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { backoffDelay, createWorkQueue, type ProcessResult } from './queue.ts';

const log = createLogger({ name: 'queue-test', level: 'silent' });

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('work queue', () => {
  it('never processes one key twice at once, and runs it again once if added meanwhile', async () => {
    const runs: string[] = [];
    let active = 0;
    let maxActive = 0;
    const first = gate();
    const queue = createWorkQueue({
      workers: 4,
      retryBaseMs: 10,
      retryMaxMs: 100,
      log,
      async process(key) {
        active += 1;
        maxActive = Math.max(maxActive, active);
        runs.push(key);
        if (runs.length === 1) await first.opened;
        active -= 1;
        return undefined;
      },
    });
    queue.start();
    queue.add('ns/a');
    await waitFor('the first run', () => runs.length === 1);
    queue.add('ns/a');
    queue.add('ns/a');
    queue.add('ns/a');
    first.open();
    await waitFor('the second run', () => runs.length === 2);
    await queue.stop();
    assert.deepEqual(runs, ['ns/a', 'ns/a']);
    assert.equal(maxActive, 1);
  });

  it('processes different keys side by side', async () => {
    const both = gate();
    let started = 0;
    const queue = createWorkQueue({
      workers: 2,
      retryBaseMs: 10,
      retryMaxMs: 100,
      log,
      async process() {
        started += 1;
        if (started === 2) both.open();
        await both.opened;
        return undefined;
      },
    });
    queue.start();
    queue.add('ns/a');
    queue.add('ns/b');
    await both.opened;
    await queue.stop();
  });

  it('retries a failure with back-off until it succeeds, then forgets the failures', async () => {
    const outcomes: string[] = [];
    let calls = 0;
    const queue = createWorkQueue({
      workers: 1,
      retryBaseMs: 5,
      retryMaxMs: 20,
      log,
      async process(): Promise<ProcessResult | undefined> {
        calls += 1;
        if (calls <= 3) throw new Error(`failure ${calls}`);
        return undefined;
      },
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    queue.start();
    queue.add('ns/a');
    await waitFor('success', () => outcomes.includes('success'));
    assert.deepEqual(outcomes, ['error', 'error', 'error', 'success']);
    assert.equal(queue.failures('ns/a'), 0);
    await queue.stop();
  });

  it('requeues after the delay asked for, and only runs while started', async () => {
    let calls = 0;
    const queue = createWorkQueue({
      workers: 1,
      retryBaseMs: 5,
      retryMaxMs: 20,
      log,
      async process() {
        calls += 1;
        return calls === 1 ? { requeueAfterMs: 20 } : {};
      },
    });
    queue.add('ns/a');
    assert.equal(queue.depth(), 1, 'kept while not started');
    queue.start();
    await waitFor('the requeued run', () => calls === 2);
    await queue.pause();
    queue.add('ns/b');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(calls, 2, 'paused: nothing runs');
    queue.start();
    await waitFor('the run after resuming', () => calls === 3);
    await queue.stop();
  });

  it('backs off exponentially up to the ceiling', () => {
    const delays = [1, 2, 3, 4, 10].map((n) => backoffDelay(n, 100, 1000));
    const [d1, d2, d3, d4, d10] = delays as [number, number, number, number, number];
    assert.ok(d1 >= 80 && d1 <= 100);
    assert.ok(d2 >= 160 && d2 <= 200);
    assert.ok(d3 >= 320 && d3 <= 400);
    assert.ok(d4 >= 640 && d4 <= 800);
    assert.ok(d10 >= 800 && d10 <= 1000);
  });
});
