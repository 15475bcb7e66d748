/**
 * `hikyaku queue --hold/--release/--flush` on the local stack: a held destination gets
 * nothing while other mail flows, and everything held goes once released; a flush makes
 * a deferred message go out long before its retry time; each action is an event, and the
 * flush shows in the message's trace.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CONSUMERS, type QueueActionEvent, STREAMS } from '@hikyaku/core';
import { runQueueCli, runTraceCli } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink, waitFor } from '@hikyaku/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

let relay: RelayFixture;
let other: SmtpSink;

async function queue(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runQueueCli(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { NATS_URL: relay.stack.natsUrl, REDIS_URL: relay.stack.redisUrl },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Sends one message; returns its queue id. */
async function send(to: string, marker: string): Promise<string> {
  const client = relayClient(relay.stack, 1);
  try {
    const info = await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: [to] },
      raw: rawMessage({ from: 'app@hikyaku.test', to, marker }),
    });
    const id = /queued as (\S+)/.exec(info.response)?.[1];
    assert.ok(id, info.response);
    return id;
  } finally {
    client.close();
  }
}

const arrived = (sink: SmtpSink, marker: string) =>
  sink.messages.some((m) => m.raw.includes(`Subject: test ${marker}`));

function actions(type: QueueActionEvent['type'], domain: string): QueueActionEvent[] {
  return (relay.events as unknown as QueueActionEvent[]).filter(
    // A flush also files a delivery event per recipient, of the same type.
    (e) => e.type === type && e.domain === domain && !('rcpt' in e),
  );
}

before(async () => {
  other = await startSmtpSink({ host: '127.0.9.12', port: 0 });
  relay = await startRelayFixture({
    sinkHost: '127.0.9.11',
    extraRoutes: [{ domains: ['held.test', 'later.test'], host: `127.0.9.12:${other.port}` }],
    // A deferred message would wait an hour; held mail looks at its hold every second.
    spec: { retry: { schedule: ['1h'], maxAge: '1d' } },
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '1000' },
  });
});

after(async () => {
  await relay?.stop();
  await other?.close();
});

test('a held destination gets nothing while other mail flows; released, all of it goes', async () => {
  const held = await queue('--pool', 'local/test', '--hold', 'held.test');
  assert.equal(held.code, 0, held.err);
  assert.match(held.out, /^held held\.test in pool local_test: nothing is sent to it/);
  assert.match((await queue('--hold', 'held.test')).out, /held\.test is held already, since /);

  await send('a@held.test', 'held-1');
  await send('b@held.test', 'held-2');
  await send('c@example.test', 'flowing');
  await waitFor('other mail delivered', () => arrived(relay.sink, 'flowing'));
  let view = { code: -1, out: '', err: '' };
  await waitFor('the held mail shown as held', async () => {
    view = await queue('--domain', 'held.test');
    return /held\.test\s+2\s+\S+\s+2 held since \S+Z/.test(view.out);
  });
  assert.equal(arrived(other, 'held-1') || arrived(other, 'held-2'), false);
  // No outcome names a message that waits before its first attempt: the acceptance stored
  // at its first wait is what the trace finds.
  const waiting: string[] = [];
  const found = await runTraceCli(['a@held.test'], {
    out: (l) => waiting.push(l),
    err: (l) => waiting.push(l),
    env: { NATS_URL: relay.stack.natsUrl },
  });
  assert.equal(found, 0, waiting.join('\n'));
  assert.match(waiting.join('\n'), /^ {2}\S+ {2}accepted {4}a@held\.test$/m);
  assert.doesNotMatch(waiting.join('\n'), /planned/);

  const released = await queue('--release', 'held.test');
  assert.equal(released.code, 0, released.err);
  assert.match(released.out, /^released held\.test in pool local_test/);
  await waitFor(
    'everything held delivered',
    () => arrived(other, 'held-1') && arrived(other, 'held-2'),
  );
  assert.match((await queue('--release', 'held.test')).out, /held\.test was not held/);

  await waitFor(
    'both actions recorded as events',
    () => actions('released', 'held.test').length > 0,
  );
  assert.equal(actions('held', 'held.test').length, 1, 'a second hold changes nothing');
  assert.equal(actions('held', 'held.test')[0]?.pool, 'local_test');
});

test('a flush sends a deferred message before its retry time and shows in its trace', async () => {
  other.setBehaviour({
    onRcpt: (rcpt) =>
      rcpt.startsWith('busy') ? { code: 451, message: '4.2.0 Mailbox busy, try later' } : undefined,
  });
  const id = await send('busy@later.test', 'later');
  await waitFor('the first attempt deferred', () =>
    relay.events.some((e) => e.type === 'deferred' && e.id === id),
  );
  let view = { code: -1, out: '', err: '' };
  await waitFor('the retry wait shown', async () => {
    view = await queue('--domain', 'later.test');
    return /1 retry wait: next attempt/.test(view.out);
  });
  const next = /next attempt (\S+Z)/.exec(view.out)?.[1] as string;
  assert.ok(Date.parse(next) - Date.now() > 30 * 60_000, `retry at ${next}, about an hour away`);

  other.setBehaviour({});
  const flushed = await queue('--flush', 'later.test', '--json');
  assert.equal(flushed.code, 0, flushed.err);
  assert.deepEqual(JSON.parse(flushed.out), {
    pool: 'local_test',
    domain: 'later.test',
    items: 1,
    rcpts: 1,
    held: false,
  });
  await waitFor('the flushed message delivered', () => arrived(other, 'later'));
  assert.ok(Date.now() < Date.parse(next), 'long before its retry time');
  await waitFor('delivered event', () =>
    relay.events.some((e) => e.type === 'delivered' && e.id === id),
  );
  assert.equal(
    relay.events.filter((e) => e.type === 'delivered' && e.id === id).length,
    1,
    'the original, deleted, is not sent again',
  );
  // The deleted original counts as acknowledged: nothing stays pending on the consumer.
  const nc = await connect({ servers: relay.stack.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    await waitFor('nothing pending on the queue consumer', async () => {
      const info = await jsm.consumers.info(STREAMS.queue, CONSUMERS.schedulerQueue);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    });
  } finally {
    await nc.close();
  }
  await waitFor(
    'the flush recorded as an event',
    () => actions('flushed', 'later.test').length > 0,
  );
  assert.equal(actions('flushed', 'later.test')[0]?.items, 1);

  const out: string[] = [];
  assert.equal(
    await runTraceCli([id], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      env: { NATS_URL: relay.stack.natsUrl },
    }),
    0,
  );
  const timeline = out.join('\n');
  assert.match(timeline, /deferred\s+busy@later\.test\s+attempt 1 .*451/);
  assert.match(timeline, /flushed\s+busy@later\.test\s+attempt 2/);
  assert.match(timeline, /delivered\s+busy@later\.test\s+attempt 2/);

  const nothing = await queue('--flush', 'later.test');
  assert.match(nothing.out, /0 deferred items \(0 recipients\) are due now/);
});
