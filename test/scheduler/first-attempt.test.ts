/**
 * A first attempt that may leave at once leaves from the envelope stage: nothing is written
 * to HIKYAKU_QUEUE for it. Mail that must wait (a held destination, a paced destination's
 * backlog) still becomes a queue item, waits there, stores its acceptance once, leaves in
 * its lane's order and leaves no turn behind in the lanes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REDIS_KEYS, STREAMS, SUBJECTS } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 10 });
let sink: SmtpSink;
let relay: ShapingFixture;

before(async () => {
  sink = await startSmtpSink({ host: '127.0.0.28', port: 0 });
  const host = `127.0.0.28:${sink.port}`;
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '200' },
    spec: {
      routes: [{ domains: ['lax.test', 'held.test', 'paced.test'], host }],
      ratePolicies: [
        // One every ten clock seconds (a real second) from each of the two IPs: the third of
        // three at once waits, even when a loaded machine spreads their submissions out.
        { name: 'paced', match: { domains: ['paced.test'] }, perIp: { messagesPerMinute: 6 } },
        // Everything else may always leave at once.
        { name: 'default', perIp: { messagesPerMinute: 1_000_000, connections: 10 } },
      ],
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

const queueWrites = async () => (await relay.admin.jsm.streams.info(STREAMS.queue)).state.last_seq;
const arrivals = (rcpt: string) => sink.messages.filter((m) => m.rcpts.includes(rcpt)).length;

test('due mail of a lax pool is relayed without a queue write', async () => {
  const rcpts = Array.from({ length: 5 }, (_, i) => `user${i}@lax.test`);
  await Promise.all(rcpts.map((rcpt) => relay.submit({ to: [rcpt] })));
  await waitFor('every message delivered', () => rcpts.every((r) => arrivals(r) === 1));
  assert.equal(await queueWrites(), 0, 'nothing was written to HIKYAKU_QUEUE');
});

test('mail that must wait goes through the queue and is delivered later', async () => {
  const before = await queueWrites();
  await relay.redis.hset(
    REDIS_KEYS.destinationHolds(relay.pool.key),
    'held.test',
    JSON.stringify({ at: clock.now() }),
  );
  // The scheduler reads the holds at most once a second.
  await new Promise((r) => setTimeout(r, 1100));
  const held = await relay.submit({ to: ['wait@held.test'] });
  const paced = Array.from({ length: 3 }, (_, i) => `user${i}@paced.test`);
  await Promise.all(paced.map((rcpt) => relay.submit({ to: [rcpt] })));
  await waitFor('the paced mail delivered', () => paced.every((r) => arrivals(r) === 1));
  assert.ok((await queueWrites()) >= before + 2, 'the held and a paced message were queued');
  assert.equal(arrivals('wait@held.test'), 0, 'held mail waits');

  await relay.redis.hdel(REDIS_KEYS.destinationHolds(relay.pool.key), 'held.test');
  await waitFor('the held message delivered once released', () => arrivals('wait@held.test'));
  const stored = await relay.admin.jsm.streams.info(STREAMS.events, {
    subjects_filter: SUBJECTS.eventAll,
  });
  const accepted = Object.entries(stored.state.subjects ?? {}).filter(
    ([subject]) => subject.includes(`.${held}.`) && subject.endsWith('.accepted'),
  );
  assert.deepEqual(
    accepted.map(([, n]) => n),
    [1],
    'the waiting message stored its acceptance once',
  );
  // Every turn taken in a lane was given back by the dispatch that ended its wait.
  const lanes = await relay.redis.keys(REDIS_KEYS.lane(relay.pool.key, '*'));
  for (const lane of lanes) assert.equal(await relay.redis.zcard(lane), 0, `${lane} is empty`);
  assert.equal(await relay.redis.zcard(REDIS_KEYS.queued(relay.pool.key, 'paced')), 0);
  assert.deepEqual(
    paced.map(arrivals).concat(arrivals('wait@held.test')),
    [1, 1, 1, 1],
    'each message delivered once',
  );
});
