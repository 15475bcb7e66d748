/**
 * What an admin sees of a message: one JSON line at acceptance (ingress), one per delivery
 * attempt (scheduler), and `hikyaku trace` finding the timeline by queue id, Message-ID or
 * recipient. The receiver delivers `ok-*`, defers `defer-*` (451) and refuses `bounce-*`
 * (550).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REDIS_KEYS } from '@hikyaku/core';
import { runStatusCli, runTraceCli } from '@hikyaku/scheduler';
import { waitFor } from '@hikyaku/testing';
import { Redis } from 'ioredis';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

let relay: RelayFixture;
let delivered: Sent;
let deferred: Sent;
let bounced: Sent;
const logs: { name: string; line: Record<string, unknown> }[] = [];

before(async () => {
  relay = await startRelayFixture({
    sinkHost: '127.0.7.1',
    env: { HIKYAKU_LOG_LEVEL: 'info' },
    spec: {
      bounces: { notifySender: false, suppressHardBounces: false },
      // 127.0.0.2 warms up (day 1 today, 50 a day), for the status screen.
      ips: [
        {
          address: '127.0.0.2',
          hostname: 'mta1.hikyaku.test',
          warmup: { startDate: new Date().toISOString().slice(0, 10) },
        },
        { address: '127.0.0.3', hostname: 'mta2.hikyaku.test' },
      ],
      warmup: { schedule: [{ day: 1, dailyLimit: 50 }], overflow: 'spill' },
      timeZone: 'UTC',
    },
    onOutput: (name, text) => {
      if (!text.startsWith('{')) return;
      try {
        logs.push({ name, line: JSON.parse(text) as Record<string, unknown> });
      } catch {
        // A line of another shape: not a log record.
      }
    },
  });
  relay.sink.setBehaviour({
    onRcpt: (rcpt) => {
      if (rcpt.startsWith('defer-')) return { code: 451, message: '4.2.0 Mailbox busy, try later' };
      if (rcpt.startsWith('bounce-')) return { code: 550, message: '5.1.1 No such user here' };
      return undefined;
    },
  });
  delivered = await send('ok-1@example.test', 'trace-ok');
  deferred = await send('defer-1@example.test', 'trace-defer');
  bounced = await send('bounce-1@example.test', 'trace-bounce');
  await waitFor('the three outcomes', () => {
    const has = (type: string, id: string) =>
      relay.events.some((e) => e.type === type && e.id === id);
    return (
      has('delivered', delivered.queueId) &&
      has('deferred', deferred.queueId) &&
      has('bounced', bounced.queueId) &&
      // A line is logged once its event is stored, and outcomes finish in any order.
      [delivered, deferred, bounced].every((sent) => attemptLines(sent.queueId).length > 0)
    );
  });
});

after(async () => {
  await relay?.stop();
});

interface Sent {
  rcpt: string;
  messageId: string;
  queueId: string;
}

async function send(rcpt: string, marker: string): Promise<Sent> {
  const client = relayClient(relay.stack, 1);
  try {
    const info = await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: [rcpt] },
      raw: rawMessage({ from: 'app@hikyaku.test', to: rcpt, marker }),
    });
    const queueId = /queued as (\S+)/.exec(info.response)?.[1];
    assert.ok(queueId, info.response);
    return { rcpt, messageId: `${marker}@client.hikyaku.test`, queueId };
  } finally {
    client.close();
  }
}

async function trace(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTraceCli(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { NATS_URL: relay.stack.natsUrl },
  });
  return { code, out, err };
}

function attemptLines(queueId: string) {
  return logs
    .filter((l) => l.name === 'scheduler' && l.line.msg === 'delivery attempt')
    .map((l) => l.line)
    .filter((l) => l.id === queueId);
}

test('the ingress logs one line at acceptance: client, size, recipients, queue id', () => {
  const line = logs.find(
    (l) => l.name === 'ingress' && l.line.msg === 'accepted' && l.line.id === delivered.queueId,
  )?.line;
  assert.ok(line, 'no acceptance line');
  assert.equal(line.level, 30);
  assert.equal(line.messageId, delivered.messageId);
  assert.equal(line.client, '127.0.0.1');
  assert.equal(line.nrcpt, 1);
  assert.equal(line.from, 'app@hikyaku.test');
  assert.ok(typeof line.size === 'number' && line.size > 512, String(line.size));
});

test('each attempt is one info line with IP, next hop, attempt, delay, DSN status, reply, status', () => {
  const cases: [Sent, string, number, string][] = [
    [delivered, 'sent', 250, '2.0.0'],
    [deferred, 'deferred', 451, '4.2.0'],
    [bounced, 'bounced', 550, '5.1.1'],
  ];
  for (const [sent, status, code, dsn] of cases) {
    const line = attemptLines(sent.queueId)[0];
    assert.ok(line, `no attempt line for ${sent.rcpt}`);
    assert.equal(line.level, 30);
    assert.equal(line.status, status);
    assert.equal(line.to, sent.rcpt);
    assert.equal(line.messageId, sent.messageId);
    assert.ok(['127.0.0.2', '127.0.0.3'].includes(String(line.ip)), String(line.ip));
    assert.equal(line.relay, '127.0.7.1');
    assert.equal(line.relayAddress, '127.0.7.1');
    assert.equal(line.attempt, 1);
    assert.ok(typeof line.delay === 'number' && line.delay >= 0, String(line.delay));
    assert.equal(line.code, code);
    if (status !== 'sent') assert.equal(line.dsn, dsn);
    assert.equal(typeof line.reply, 'string');
  }
  const retries = attemptLines(deferred.queueId);
  assert.ok(retries.length >= 1);
  assert.deepEqual(
    retries.map((l) => l.attempt),
    retries.map((_, i) => i + 1),
  );
});

test('trace finds a delivered, a deferred and a bounced message by each key', async () => {
  const cases: [Sent, RegExp][] = [
    [
      delivered,
      /delivered\s+ok-1@example\.test {2}attempt 1 {2}from 127\.0\.0\.[23] {2}to 127\.0\.7\.1\[127\.0\.7\.1\]: 250 /,
    ],
    [
      deferred,
      /deferred\s+defer-1@example\.test {2}attempt 1 {2}from 127\.0\.0\.[23] {2}to 127\.0\.7\.1\[127\.0\.7\.1\]: 451 4\.2\.0 /,
    ],
    [
      bounced,
      /bounced\s+bounce-1@example\.test {2}attempt 1 {2}from 127\.0\.0\.[23] {2}to 127\.0\.7\.1\[127\.0\.7\.1\]: 550 5\.1\.1 /,
    ],
  ];
  for (const [sent, attempt] of cases) {
    for (const key of [sent.queueId, sent.messageId, `<${sent.messageId}>`, sent.rcpt]) {
      const { code, out, err } = await trace(key);
      assert.equal(code, 0, `${key}: ${err.join('\n')}`);
      const text = out.join('\n');
      assert.match(text, new RegExp(`^queue id ${sent.queueId} `), key);
      assert.match(text, new RegExp(`Message-ID <${sent.messageId}>`), key);
      assert.match(text, /accepted\s+\S+@example\.test/, key);
      assert.match(text, /planned\s+\S+@example\.test {2}attempt 1 {2}from 127\.0\.0\.[23]/, key);
      assert.match(text, attempt, key);
    }
  }
});

test('trace says so and exits 1 when nothing matches; a wrong option exits 2', async () => {
  const none = await trace('nobody@example.test');
  assert.equal(none.code, 1);
  assert.match(none.err.join('\n'), /nothing found for "nobody@example\.test"/);
  const wrong = await trace('--natz', 'x', 'y');
  assert.equal(wrong.code, 2);
  assert.match(wrong.err.join('\n'), /usage: hikyaku trace/);
});

test('status shows the pool, its IPs with state and warm-up use, learned throttles and held mail', async () => {
  const now = Date.now();
  const redis = new Redis(relay.stack.redisUrl);
  try {
    await redis.hset(
      REDIS_KEYS.throttle(relay.stack.pool.key),
      '127.0.0.3|default:slow.test',
      JSON.stringify({
        rate: 30,
        since: now,
        ceiling: 40,
        clean: 30,
        declared: 60,
        pausedUntil: now + 600_000,
        // Held past the pause, so the rate shown for its end is the learned one, unprobed.
        recoverAfter: 3_600_000,
        reason: 'rate',
      }),
    );
  } finally {
    redis.disconnect();
  }
  const out: string[] = [];
  const err: string[] = [];
  const code = await runStatusCli(
    [],
    {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      env: { NATS_URL: relay.stack.natsUrl, REDIS_URL: relay.stack.redisUrl },
    },
    now,
  );
  assert.equal(code, 0, err.join('\n'));
  const text = out.join('\n');
  assert.match(text, /^pool local_test \(local\/test\), 2 IPs, time zone UTC$/m);
  assert.match(text, /^ {2}127\.0\.0\.2\s+Warming\s+1\s+\d+\s+50\s+local-sender-0$/m);
  assert.match(text, /^ {2}127\.0\.0\.3\s+Paused\s+-\s+\d+\s+-\s+local-sender-0$/m);
  assert.match(
    text,
    /127\.0\.0\.3 → default:slow\.test: paused until \S+Z, then 30\/min \(declared 60, refused from 40\)/,
  );
  // The deferred message waits for its next attempt.
  assert.match(text, /mail held: \d+ accepted to split, [1-9]\d* delivery items waiting/);

  const unknown = await runStatusCli(['--pool', 'local/nope'], {
    out: () => undefined,
    err: (l) => err.push(l),
    env: { NATS_URL: relay.stack.natsUrl, REDIS_URL: relay.stack.redisUrl },
  });
  assert.equal(unknown, 1);
  assert.match(err.join('\n'), /no pool "local\/nope" is known/);
});
