/**
 * The `accepted` and `scheduled` notices for live watchers (hikyaku.progress.>) are a
 * setting: off by default, nothing is published there while mail is relayed; with
 * HIKYAKU_PROGRESS_EVENTS=true every recipient is announced accepted, then scheduled.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { codecs, type DeliveryEvent, type ServiceContext, SUBJECTS } from '@hikyaku/core';
import { createTestClock, runScheduler } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import type { Subscription } from '@nats-io/transport-node';
import { type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z') });
let sink: SmtpSink;
let relay: ShapingFixture;
let sub: Subscription;
let scheduler: ServiceContext | undefined;
/** Everything seen on hikyaku.progress.>, in order. */
const notices: DeliveryEvent[] = [];

before(async () => {
  sink = await startSmtpSink({ host: '127.0.0.33', port: 0 });
  relay = await startShapingFixture({
    clock,
    spec: { routes: [{ domains: ['progress.test'], host: `127.0.0.33:${sink.port}` }] },
    // The fixture turns the notices on for the other tests; this file starts without them.
    env: { HIKYAKU_PROGRESS_EVENTS: 'false' },
  });
  sub = relay.admin.nc.subscribe(SUBJECTS.progressAll);
  (async () => {
    for await (const m of sub) notices.push(codecs.event.decode(m.data));
  })().catch(() => undefined);
});

after(async () => {
  sub?.unsubscribe();
  // The fixture stops the schedulers it started; one started here is stopped here.
  if (scheduler && !relay?.schedulers.includes(scheduler)) {
    await scheduler.lifecycle.shutdown('test over');
  }
  await relay?.stop();
  await sink?.close();
});

/** Submits one message to `rcpts` and waits until the sink has it and its outcomes are stored. */
async function relayOne(rcpts: string[]): Promise<string> {
  const id = await relay.submit({ to: rcpts });
  await waitFor('the message delivered', () =>
    rcpts.every((rcpt) =>
      relay.events.some((e) => e.id === id && e.rcpt === rcpt && e.type === 'delivered'),
    ),
  );
  // The notices leave the scheduler's connection before its outcome events, and this
  // connection reads both subscriptions in order: a notice sent would be here by now.
  await relay.admin.nc.flush();
  return id;
}

test('off by default: mail is delivered and nothing is published on hikyaku.progress.>', async () => {
  const id = await relayOne(['ann@progress.test', 'bob@progress.test']);
  assert.equal(sink.messages.filter((m) => m.rcpts.includes('ann@progress.test')).length, 1);
  assert.deepEqual(notices, [], 'no progress notice');
  assert.ok(
    relay.events.every((e) => e.id !== id || (e.type !== 'accepted' && e.type !== 'scheduled')),
  );
});

test('HIKYAKU_PROGRESS_EVENTS=true: each recipient is announced accepted, then scheduled', async () => {
  // A scheduler with the notices on takes over from the one without.
  const [first] = relay.schedulers;
  assert.ok(first);
  await first.lifecycle.shutdown('replaced');
  scheduler = await runScheduler(
    { ...relay.env, HIKYAKU_PROGRESS_EVENTS: 'true' },
    { handleSignals: false, clock },
  );
  const rcpts = ['carol@progress.test', 'dave@progress.test'];
  const id = await relayOne(rcpts);
  for (const rcpt of rcpts) {
    const mine = notices.filter((e) => e.id === id && e.rcpt === rcpt);
    assert.deepEqual(
      mine.map((e) => e.type),
      ['accepted', 'scheduled'],
      `${rcpt}: accepted, then scheduled`,
    );
    assert.equal(mine[1]?.pool, relay.pool.key);
    assert.ok(mine[1]?.ip, 'the scheduled notice names the IP');
  }
});
