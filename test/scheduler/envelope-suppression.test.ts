/**
 * The envelope stage's suppression lookup rides in admission's first Redis call for a
 * message of one delivery item. A recipient suppressed after the ingress accepted the
 * message still never gets a job; when the call finds one, it has taken no turn and
 * counted no dispatch, and the message is planned again without that recipient, whose
 * companions leave once, counted once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REDIS_KEYS, STREAMS, type SuppressionEntry, suppressionAddress } from '@hikyaku/core';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z') });
let sink: SmtpSink;
let relay: ShapingFixture;

before(async () => {
  sink = await startSmtpSink({ host: '127.0.0.29', port: 0 });
  relay = await startShapingFixture({
    clock,
    spec: {
      routes: [
        { domains: ['gone.test', 'mixed.test', 'open.test'], host: `127.0.0.29:${sink.port}` },
      ],
    },
  });
});

after(async () => {
  await relay?.stop();
  await sink?.close();
});

async function suppress(address: string): Promise<void> {
  const entry: SuppressionEntry = { reason: 'manual', at: clock.now(), source: 'test' };
  await relay.redis.hset(
    REDIS_KEYS.suppressions(relay.pool.key),
    suppressionAddress(address),
    JSON.stringify(entry),
  );
}

const jobsStored = async () => (await relay.admin.jsm.streams.info(STREAMS.jobs)).state.last_seq;
const keysOf = (domain: string) => relay.redis.keys(`hikyaku:{${relay.pool.key}}:*${domain}*`);
const arrivals = (rcpt: string) => sink.messages.filter((m) => m.rcpts.includes(rcpt));

test('a recipient suppressed after acceptance gets no job, and its look wrote nothing', async () => {
  // A message that leaves first: scripts loaded, the pool's caches filled.
  await relay.submit({ to: ['first@open.test'] });
  await waitFor('the first message delivered', () => arrivals('first@open.test').length === 1);
  const jobs = await jobsStored();

  await suppress('Someone@Gone.test');
  const id = await relay.submit({ to: ['someone@gone.test'] });
  const event = await waitFor('the suppressed event', () =>
    relay.eventsOf('suppressed').find((e) => e.id === id),
  );
  assert.equal(event.reply?.code, 550);
  assert.match(event.reply?.text ?? '', /suppression list \(manual\)/);
  assert.equal(await jobsStored(), jobs, 'no job was stored');
  assert.deepEqual(await keysOf('gone.test'), [], 'no turn, lane or rate window was touched');
  assert.equal(arrivals('someone@gone.test').length, 0);
});

test('the companions of a suppressed recipient leave once, counted once', async () => {
  await suppress('out@mixed.test');
  const id = await relay.submit({ to: ['out@mixed.test', 'in@mixed.test'] });
  await waitFor('the kept recipient delivered', () => arrivals('in@mixed.test').length === 1);
  await waitFor('the suppressed event', () =>
    relay.eventsOf('suppressed').find((e) => e.id === id && e.rcpt === 'out@mixed.test'),
  );
  const [delivered] = arrivals('in@mixed.test');
  assert.deepEqual(delivered?.rcpts, ['in@mixed.test']);
  const logs = (await keysOf('mixed.test')).filter((k) => k.includes(':rate:'));
  assert.ok(logs.length > 0, `a rate window for the site: ${JSON.stringify(logs)}`);
  let dispatches = 0;
  for (const key of logs) dispatches += await relay.redis.zcard(key);
  assert.equal(dispatches, 1, 'one dispatch counted');
  assert.equal(
    relay.eventsOf('suppressed').filter((e) => e.id === id).length,
    1,
    'only the suppressed recipient',
  );
});
