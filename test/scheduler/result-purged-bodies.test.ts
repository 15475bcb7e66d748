/**
 * Recording results on a relay that removes bodies in purges (wire version 2, the default of
 * a relay this release sets up). A final result records its body's end for the purger (in
 * its own Redis batch) and leaves the body to the next purge. A result that sends a DSN does not: the DSN reads the body, so its end waits
 * until the DSN is stored, and a recording that fails part-way and is made again still
 * finds the body for its DSN.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REDIS_KEYS, STREAMS } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { DiscardPolicy } from '@nats-io/jetstream';
import {
  bodyStored,
  handOff,
  resultOf,
  type ShapingFixture,
  startShapingFixture,
  storedEvents,
  waitFor,
} from './harness.ts';

const DOMAIN = 'purged.test';
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z') });
let relay: ShapingFixture;

before(async () => {
  relay = await startShapingFixture({
    clock,
    sender: false,
    spec: { routes: [{ domains: [DOMAIN], host: '127.0.0.27:25' }] },
  });
});

after(async () => {
  await relay?.stop();
});

/** Whether a body's end is recorded for the purger. */
async function ended(seq: number): Promise<boolean> {
  return (await relay.redis.zscore(REDIS_KEYS.bodiesEnded, String(seq))) !== null;
}

/** DSNs the scheduler stored: each is a message with its envelope in the bodies stream. */
async function storedMessages(): Promise<number> {
  return (await relay.admin.jsm.streams.info(STREAMS.bodies)).state.last_seq;
}

test('a delivered result ends its body for the purger, and does not remove it one by one', async () => {
  const rcpt = 'done@purged.test';
  const result = await resultOf(
    relay,
    clock,
    { rcpt, status: 'delivered', code: 250, text: '2.0.0 Ok' },
    DOMAIN,
  );
  const seq = result.job.delivery.body.seq as number;
  assert.equal(await ended(seq), false);
  assert.deepEqual(await handOff(relay, result), { ok: true });
  assert.equal(await ended(seq), true);
  assert.equal(await bodyStored(relay, result.job.delivery.id), true, 'left to the next purge');
});

test('a bounce with a DSN keeps its body past a recording whose DSN failed, and ends it once the DSN is stored', async () => {
  const rcpt = 'gone@purged.test';
  const result = await resultOf(
    relay,
    clock,
    { rcpt, status: 'failed', code: 550, enhanced: '5.1.1', text: '5.1.1 No such user' },
    DOMAIN,
  );
  const { id } = result.job.delivery;
  const seq = result.job.delivery.body.seq as number;
  const before = await storedMessages();
  // The bodies stream takes no more messages: the DSN (stored there with its envelope)
  // fails, while the result's Redis batch and its event are stored.
  const { config, state } = await relay.admin.jsm.streams.info(STREAMS.bodies);
  await relay.admin.jsm.streams.update(STREAMS.bodies, {
    max_msgs: state.messages,
    discard: DiscardPolicy.New,
  });
  try {
    const failed = await handOff(relay, result);
    assert.equal(failed.ok, false);
    assert.equal(await storedEvents(relay.admin.jsm, id, 'bounced'), 1);
    // Its end is not recorded, so no purge takes the body the recording made again needs.
    assert.equal(await ended(seq), false, 'the body of a DSN is not ended in the batch');
  } finally {
    await relay.admin.jsm.streams.update(STREAMS.bodies, {
      max_msgs: config.max_msgs,
      discard: config.discard,
    });
  }
  assert.equal(await storedMessages(), before, 'no DSN stored yet');
  assert.deepEqual(await handOff(relay, result), { ok: true });
  assert.equal(await storedMessages(), before + 1, 'the DSN stored, once');
  await waitFor('the body ended once the DSN is stored', () => ended(seq));
  assert.equal(await bodyStored(relay, id), true, 'ended, and left to the next purge');
});
