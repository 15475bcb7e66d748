import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { contextSwitches, residentKiB, sampleAnonPeaks } from './proc-stats.ts';

test('the resident memory of a process by kind, and the peak of its anonymous part', async () => {
  const now = residentKiB(process.pid);
  assert.ok(now && now.anon > 0 && now.file > 0, 'RssAnon and RssFile read from /proc');
  assert.equal(residentKiB(undefined), null);

  const before = (residentKiB(process.pid)?.anon ?? 0) / 1024;
  const sampler = sampleAnonPeaks({ self: process.pid, gone: undefined }, 20);
  // 64 MiB written, so its pages are resident (a buffer only allocated may not be).
  let held: Buffer | undefined = Buffer.allocUnsafe(64 * 1024 * 1024).fill(1);
  await sleep(100);
  assert.equal(held.length, 64 * 1024 * 1024);
  held = undefined;
  const peaks = sampler.stop();
  assert.equal(peaks.gone, null);
  assert.ok((peaks.self ?? 0) >= before + 60, `peak ${peaks.self} MiB, ${before} before`);
});

test("a process's context switches, over all its threads", async () => {
  assert.equal(contextSwitches(undefined), null);
  assert.equal(contextSwitches(2 ** 22 + 1), null, 'no such process');
  const before = contextSwitches(process.pid);
  assert.ok(before && before.voluntary >= 0 && before.involuntary >= 0);
  // Each wait gives the core up: the main thread's voluntary count grows by at least as many.
  for (let i = 0; i < 20; i++) await sleep(5);
  const after = contextSwitches(process.pid);
  assert.ok(after, 'read again');
  assert.ok(
    after.voluntary - before.voluntary >= 20,
    `${after.voluntary - before.voluntary} voluntary switches over 20 waits`,
  );
  assert.ok(after.involuntary >= before.involuntary);
});
