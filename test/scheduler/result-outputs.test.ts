/**
 * What recording a result stores, and in which order. The scheduler issues a result's
 * outputs together, but answers its sender only once every one of them is stored, and
 * asks for the body's removal only after the rest: while Redis takes no writes, the event
 * is stored, the answer waits and the body stays; a deferred recipient's retry item waits
 * too, behind the Redis writes that must come before it. A recording that fails part-way
 * (the events stream unwritable) is answered with an error and leaves the body; made
 * again, it stores the event once and counts the result once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type JobResult,
  outcomeField,
  REDIS_KEYS,
  type RecipientOutcome,
  STREAMS,
} from '@hikyaku/core';
import { calendarDayKey } from '@hikyaku/core/policy';
import { createTestClock } from '@hikyaku/scheduler';
import {
  handOff as handOffResult,
  IP1,
  bodyStored as isBodyStored,
  resultOf as resultOfJob,
  type ShapingFixture,
  startShapingFixture,
  storedEvents,
  waitFor,
} from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z') });
let relay: ShapingFixture;

before(async () => {
  relay = await startShapingFixture({
    clock,
    sender: false,
    spec: { routes: [{ domains: ['outputs.test'], host: '127.0.0.27:25' }] },
    // The order of a body's removal after the other outputs is that of removal one by one.
    // In purges a body's end is written in the result's own Redis batch, and a recording
    // that sends a DSN ends it after the rest (test/scheduler/body-purge.test.ts).
    env: { HIKYAKU_BODY_REMOVAL: 'each' },
  });
});

after(async () => {
  // Whatever a failed test left paused, so that the fixture can stop.
  await relay?.redis.client('UNPAUSE').catch(() => undefined);
  await relay?.stop();
});

/** A delivered result of a job the scheduler might have dispatched, its body stored. */
async function deliveredResult(rcpt: string): Promise<JobResult> {
  return resultOf({ rcpt, status: 'delivered', code: 250, text: '2.0.0 Ok: queued' });
}

const resultOf = (outcome: RecipientOutcome) => resultOfJob(relay, clock, outcome, 'outputs.test');
const handOff = (result: JobResult) => handOffResult(relay, result);
const bodyStored = (id: string) => isBodyStored(relay, id);

async function deliveredCount(): Promise<number> {
  const key = REDIS_KEYS.outcomesOnDay(
    relay.pool.key,
    calendarDayKey(clock.now(), relay.pool.timeZone),
  );
  return Number((await relay.redis.hget(key, outcomeField(IP1.address, 'delivered'))) ?? 0);
}

test('the answer waits for every output; the body is removed after the rest', async () => {
  const result = await deliveredResult('paused@outputs.test');
  const { id } = result.job.delivery;
  const before = await deliveredCount();
  // Redis takes no writes until unpaused below: the batch of counters and the group's end
  // cannot be stored, whatever else is.
  await relay.redis.client('PAUSE', 60_000, 'WRITE');
  let answered = false;
  const answer = handOff(result).finally(() => {
    answered = true;
  });
  try {
    // Issued with the Redis batch, not after it.
    await waitFor(
      'the event stored while Redis waits',
      async () => (await storedEvents(relay.admin.jsm, id, 'delivered')) === 1,
    );
    // The event the scheduler stored is on its way back already; the rest must wait.
    await waitFor('the subscriber saw the event', () =>
      relay.eventsOf('delivered').some((e) => e.id === id),
    );
    assert.equal(answered, false, 'no answer before the Redis batch is stored');
    assert.equal(await bodyStored(id), true, 'the body stays until the batch is stored');
  } finally {
    await relay.redis.client('UNPAUSE');
  }
  assert.deepEqual(await answer, { ok: true });
  assert.equal(await deliveredCount(), before + 1, 'counted before the answer');
  // Requested once the rest was stored, with the answer.
  await waitFor('the body removed', async () => !(await bodyStored(id)));
});

test('a recording that fails part-way keeps the body; made again, it counts once', async () => {
  const result = await deliveredResult('unwritable@outputs.test');
  const { id } = result.job.delivery;
  const before = await deliveredCount();
  const { config } = await relay.admin.jsm.streams.info(STREAMS.events);
  // No stream takes the events: their publish fails, the Redis batch does not.
  await relay.admin.jsm.streams.update(STREAMS.events, { subjects: ['hikyaku.nowhere.>'] });
  try {
    const failed = await handOff(result);
    assert.equal(failed.ok, false, 'no OK when an output was not stored');
    assert.equal(await bodyStored(id), true, 'the body stays for the recording made again');
  } finally {
    await relay.admin.jsm.streams.update(STREAMS.events, { subjects: config.subjects });
  }
  assert.equal(await storedEvents(relay.admin.jsm, id, 'delivered'), 0);
  assert.deepEqual(await handOff(result), { ok: true });
  assert.equal(await storedEvents(relay.admin.jsm, id, 'delivered'), 1);
  assert.equal(await deliveredCount(), before + 1, 'counted once over both recordings');
  await waitFor('the body removed', async () => !(await bodyStored(id)));
  // And a third time, as a late stream copy would: nothing more is stored or counted.
  assert.deepEqual(await handOff(result), { ok: true });
  assert.equal(await storedEvents(relay.admin.jsm, id, 'delivered'), 1);
  assert.equal(await deliveredCount(), before + 1);
});

test('a retry item is stored after the Redis writes before it, and indexed with its sequence', async () => {
  const rcpt = 'later@outputs.test';
  const result = await resultOf({
    rcpt,
    status: 'deferred',
    code: 451,
    enhanced: '4.3.0',
    text: '4.3.0 Try again later',
  });
  const { id } = result.job.delivery;
  const queued = async () => (await relay.admin.jsm.streams.info(STREAMS.queue)).state.last_seq;
  const storedDeferred = () => storedEvents(relay.admin.jsm, id, 'deferred');
  const before = await queued();
  await relay.redis.client('PAUSE', 60_000, 'WRITE');
  let answered = false;
  const answer = handOff(result).finally(() => {
    answered = true;
  });
  try {
    await waitFor('the deferred event stored while Redis waits', async () => {
      return (await storedDeferred()) === 1;
    });
    // The item is counted as waiting (a Redis write) before it exists.
    assert.equal(await queued(), before, 'no retry item before its Redis writes');
    assert.equal(answered, false);
  } finally {
    await relay.redis.client('UNPAUSE');
  }
  assert.deepEqual(await answer, { ok: true });
  const seq = await queued();
  assert.equal(seq, before + 1, 'one retry item');
  const waits = await relay.redis.zrange(
    REDIS_KEYS.retryWaits(relay.pool.key, 'outputs.test'),
    0,
    -1,
  );
  assert.ok(
    waits.some((member) => member.endsWith(`#${seq}`)),
    `the retry index names the item's sequence ${seq}: ${waits.join(', ')}`,
  );
  assert.equal(await bodyStored(id), true, 'the body stays for the retry');
});
