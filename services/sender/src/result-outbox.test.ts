import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, type JobResult } from '@hikyaku/core';
import { HandBackError } from './errors.ts';
import { createResultOutbox } from './result-outbox.ts';

const log = createLogger({ name: 'outbox-test', level: 'silent' });
const result = (jobId: string): JobResult => ({ job: { jobId } }) as unknown as JobResult;

test('reports failing from a failed store until a result is stored again', async () => {
  let calls = 0;
  let retried: () => void = () => undefined;
  const retrying = new Promise<void>((resolve) => {
    retried = resolve;
  });
  let release: () => void = () => undefined;
  const outbox = createResultOutbox({
    log,
    minRetryMs: 1,
    publish: () => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('no space'));
      retried();
      // The retry is held until the test has looked.
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    },
  });
  assert.equal(outbox.failing, false);
  const signal = new AbortController().signal;
  const first = outbox.store(result('a'), signal);
  await retrying;
  assert.equal(outbox.failing, true);
  assert.equal(outbox.pending('a')?.job.jobId, 'a', 'the result is kept while it fails');
  release();
  assert.equal(await first, 'stored');
  assert.equal(outbox.failing, false);
  assert.equal(outbox.size, 0);
  // While not failing, waiting to store is no wait at all.
  await outbox.whenStoring(signal, () => false);
});

test('a hand-off in progress gives way to the abort, and the result stays kept', async () => {
  let answer: (taken: 'acked') => void = () => undefined;
  const outbox = createResultOutbox({
    log,
    publish: async () => undefined,
    handOff: () =>
      new Promise((resolve) => {
        answer = resolve;
      }),
  });
  const abort = new AbortController();
  const storing = outbox.store(result('b'), abort.signal, 'ack.subject');
  const reason = new HandBackError('stopping');
  abort.abort(reason);
  await assert.rejects(storing, (err) => err === reason);
  assert.equal(outbox.pending('b')?.job.jobId, 'b');
  answer('acked');

  const taken = outbox.store(result('c'), new AbortController().signal, 'ack.subject');
  answer('acked');
  assert.equal(await taken, 'acked');
  assert.equal(outbox.pending('c'), undefined);
});
