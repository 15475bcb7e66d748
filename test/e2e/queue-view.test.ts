/**
 * `hikyaku queue` on the local stack: why mail waits, per destination. A destination
 * whose pairs a receiver paused shows "throttled" with the learned rate; a destination
 * whose mail waits for a warming IP's next day shows "warm-up cap"; bad command lines
 * exit 2 and an unknown pool exits 1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REDIS_KEYS } from '@hikyaku/core';
import { runQueueCli } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink, waitFor } from '@hikyaku/testing';
import { Redis } from 'ioredis';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

const WARM = '127.0.0.2';
const WARMING = '127.0.0.3';
const CAP = 2;
/** Enough that the warming IP is the home of more than its cap (all but surely). */
const CAPPED_MESSAGES = 20;
const SLOW_MESSAGES = 3;
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

async function send(domain: string, count: number): Promise<void> {
  const client = relayClient(relay.stack, 2);
  try {
    for (let i = 0; i < count; i++) {
      const to = `rcpt${i}@${domain}`;
      await client.sendMail({
        envelope: { from: 'app@hikyaku.test', to: [to] },
        raw: rawMessage({ from: 'app@hikyaku.test', to, marker: `${domain}-${i}` }),
      });
    }
  } finally {
    client.close();
  }
}

before(async () => {
  other = await startSmtpSink({ host: '127.0.9.2', port: 0 });
  const today = new Date().toISOString().slice(0, 10);
  relay = await startRelayFixture({
    sinkHost: '127.0.9.1',
    extraRoutes: [{ domains: ['capped.test', 'slow.test'], host: `127.0.9.2:${other.port}` }],
    spec: {
      timeZone: 'UTC',
      ips: [
        { address: WARM, hostname: 'mta1.hikyaku.test' },
        { address: WARMING, hostname: 'mta2.hikyaku.test', warmup: { startDate: today } },
      ],
      warmup: { schedule: [{ day: 1, dailyLimit: CAP }], overflow: 'defer' },
    },
  });
  // slow.test paused both pairs for ten minutes, as a receiver's 421 would.
  const now = Date.now();
  const redis = new Redis(relay.stack.redisUrl);
  try {
    for (const ip of [WARM, WARMING]) {
      await redis.hset(
        REDIS_KEYS.throttle(relay.stack.pool.key),
        `${ip}|default:slow.test`,
        JSON.stringify({
          rate: 30,
          since: now,
          ceiling: 40,
          clean: 30,
          declared: 1_000_000,
          pausedUntil: now + 600_000,
          recoverAfter: 3_600_000,
          reason: 'rate',
        }),
      );
    }
  } finally {
    redis.disconnect();
  }
  await send('slow.test', SLOW_MESSAGES);
  await send('capped.test', CAPPED_MESSAGES);
});

after(async () => {
  await relay?.stop();
  await other?.close();
});

test('queue shows a throttled destination with its learned rate, and a warm-up-capped one', async () => {
  type View = {
    pool: string;
    destinations: { domain: string; causes: { kind: string; items: number; ips?: string[] }[] }[];
  };
  const deliveredTo = (domain: string) =>
    other.messages.filter((m) => m.raw.includes(`Subject: test ${domain}`)).length;
  const causesOf = (view: View, domain: string) =>
    view.destinations.find((d) => d.domain === domain)?.causes ?? [];
  let json: View | undefined;
  await waitFor(
    'every capped.test message sent or waiting for the next day, slow.test throttled',
    async () => {
      const { out } = await queue('--json');
      json = JSON.parse(out) as View;
      const capped = causesOf(json, 'capped.test');
      const slow = causesOf(json, 'slow.test');
      return (
        capped.length === 1 &&
        capped[0]?.kind === 'warmup-cap' &&
        capped[0].items + deliveredTo('capped.test') === CAPPED_MESSAGES &&
        slow.length === 1 &&
        slow[0]?.kind === 'throttled' &&
        slow[0].items === SLOW_MESSAGES
      );
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(json?.pool, 'local_test');
  assert.deepEqual(causesOf(json as View, 'capped.test')[0]?.ips, [WARMING]);
  assert.equal(deliveredTo('slow.test'), 0);

  const view = await queue();
  assert.equal(view.code, 0, view.err);
  assert.match(view.out, /^pool local_test \(local\/test\): \d+ items waiting, oldest \S+$/m);
  assert.match(
    view.out,
    /^ {2}slow\.test\s+3\s+\S+\s+3 throttled: 127\.0\.0\.2 paused until \S+Z, then 30\/min \(declared 1000000\), 127\.0\.0\.3 paused until \S+Z, then 30\/min/m,
  );
  const tomorrow = new Date(new Date().toISOString().slice(0, 10));
  tomorrow.setUTCDate(tomorrow.getUTCDate() + 1);
  assert.match(
    view.out,
    new RegExp(
      `capped\\.test\\s+\\d+\\s+\\S+\\s+\\d+ warm-up cap: 127\\.0\\.0\\.3 used today's cap; next day ${tomorrow.toISOString().replace(/\./g, '\\.')}`,
    ),
  );
  assert.match(view.out, /^ {2}127\.0\.0\.3\s+Paused\s+day 1\s+2 of 2\s+today's cap used$/m);

  const only = await queue('--pool', 'test', '--domain', 'capped.test');
  assert.equal(only.code, 0, only.err);
  assert.doesNotMatch(only.out, /slow\.test/);
  assert.match(only.out, /capped\.test/);
});

test('queue refuses a bad command line with exit 2 and an unknown pool with exit 1', async () => {
  const two = await queue('--pool', 'test', '--hold', 'a.test', '--flush', 'b.test');
  assert.equal(two.code, 2);
  assert.match(two.err, /give one of --hold, --release and --flush, not hold and flush/);
  assert.match(two.err, /usage: hikyaku queue/);
  const notDomain = await queue('--hold', 'not a domain');
  assert.equal(notDomain.code, 2);
  assert.match(notDomain.err, /--hold: "not a domain" is not a domain/);
  const missing = await queue('--flush');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--flush/);
  const stray = await queue('list');
  assert.equal(stray.code, 2);
  const unknown = await queue('--pool', 'nope');
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /\[HIKYAKU_UNKNOWN_POOL\] no pool "nope" is known to the relay/);
  const noRelay = await runQueueCli([], { out: () => undefined, err: () => undefined, env: {} });
  assert.equal(noRelay, 2);
});

test('queue names the sender domains the complaint guard holds', async () => {
  const redis = new Redis(relay.stack.redisUrl);
  try {
    const key = REDIS_KEYS.complaintHolds(relay.stack.pool.key);
    await redis.hset(
      key,
      'shop.test',
      JSON.stringify({ rate: 0.5, delivered: 2, complaints: 1, at: Date.now() }),
    );
    const view = await queue('--domain', 'capped.test');
    assert.equal(view.code, 0, view.err);
    assert.match(view.out, /held for complaints \(hikyaku holds\), shown as due: shop\.test$/m);
    await redis.hdel(key, 'shop.test');
  } finally {
    redis.disconnect();
  }
});
