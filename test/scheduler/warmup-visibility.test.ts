/**
 * Warm-up is visible where operators look, on the local stack as `npm start` runs it (the
 * three services as processes): the scheduler's /metrics shows each warming IP's day, cap
 * and count of today, and counts mail that spilled from a capped IP; `hikyaku shaping`
 * shows the same per IP, with what waits for tomorrow.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, test } from 'node:test';
import { runShapingCli } from '@hikyaku/scheduler';
import { waitFor } from '@hikyaku/testing';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

const WARM = '127.0.0.2';
const WARMING = '127.0.0.3';
const CAP = 3;
// One at a time, each delivered before the next: two items admitted in the same
// millisecond find their home IP paced ('rate') and go to the other IP without a spill,
// which would make the counts below depend on timing. With 30 messages the warming IP
// is the home of at least 4 (cap and one spill) but for odds of about 4 in a million.
const MESSAGES = 30;
let relay: RelayFixture;

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: ${res.statusCode}`)),
      );
    }).on('error', reject);
  });
}

function value(text: string, name: string, ip: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`ip="${ip}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

before(async () => {
  const today = new Date().toISOString().slice(0, 10);
  relay = await startRelayFixture({
    sinkHost: '127.0.0.23',
    spec: {
      timeZone: 'UTC',
      ips: [
        { address: WARM, hostname: 'mta1.hikyaku.test' },
        { address: WARMING, hostname: 'mta2.hikyaku.test', warmup: { startDate: today } },
      ],
      warmup: { schedule: [{ day: 1, dailyLimit: CAP }], overflow: 'spill' },
    },
  });
  const client = relayClient(relay.stack, 2);
  try {
    for (let i = 0; i < MESSAGES; i++) {
      const to = `warm${i}@example.test`;
      await client.sendMail({
        envelope: { from: 'app@hikyaku.test', to: [to] },
        raw: rawMessage({ from: 'app@hikyaku.test', to, marker: `warm-${i}` }),
      });
      await waitFor(
        `message ${i + 1} delivered`,
        () => relay.events.filter((e) => e.type === 'delivered').length > i,
        { timeoutMs: 30_000 },
      );
    }
  } finally {
    client.close();
  }
});

after(async () => {
  await relay?.stop();
});

test("the scheduler's /metrics shows the warming IP's day, cap and count, and what spilled", async () => {
  const text = await scrape(relay.stack.services.scheduler.opsPort);
  assert.equal(value(text, 'hikyaku_scheduler_warmup_day', WARMING), 1);
  assert.equal(value(text, 'hikyaku_scheduler_warmup_daily_limit', WARMING), CAP);
  assert.equal(value(text, 'hikyaku_scheduler_sent_today', WARMING), CAP);
  assert.equal(value(text, 'hikyaku_scheduler_sent_today', WARM), MESSAGES - CAP);
  assert.equal(value(text, 'hikyaku_scheduler_warmup_daily_limit', WARM), undefined, 'no cap');
  // About half the mail had the warming IP as its home; all but its cap spilled.
  const spilled = value(text, 'hikyaku_scheduler_warmup_spilled_total', WARMING) ?? 0;
  assert.ok(spilled >= 1 && spilled <= MESSAGES - CAP, `${spilled} spilled`);
});

test('hikyaku shaping shows each IP: day, cap, sent today and what waits for tomorrow', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} };
  const args = ['--nats', relay.stack.natsUrl, '--redis', relay.stack.redisUrl, '--pool'];
  assert.equal(await runShapingCli([...args, 'local/test', '--json'], io), 0, err.join('\n'));
  const rows = out.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    rows.map((r) => [
      r.address,
      r.state,
      r.warmupDay,
      r.dailyLimit,
      r.sentToday,
      r.waitingForTomorrow,
    ]),
    [
      [WARM, 'Active', null, null, MESSAGES - CAP, null],
      [WARMING, 'Warming', 1, CAP, CAP, 0],
    ],
  );
  out.length = 0;
  assert.equal(await runShapingCli([...args, 'local_test'], io), 0);
  assert.ok(out.some((l) => l.startsWith(`${WARMING}\tWarming\tday 1, cap ${CAP}, 0 waiting`)));
  assert.ok(out.some((l) => l === 'every IP capped: 0 waiting for tomorrow'));
  assert.equal(await runShapingCli(['--pool', 'x'], { ...io, env: {} }), 2, 'usage error');
  assert.equal(await runShapingCli([...args, 'local/none'], io), 1, 'unknown pool');
  assert.match(err.at(-1) ?? '', /HIKYAKU_UNKNOWN_POOL/);
});
