/**
 * The complaint guard per submitter: two submitters send bulk mail from the same sender
 * domain; complaints about one of them put that submitter over its stop rate while the
 * domain as a whole stays under its warning line. Only that submitter's bulk mail is held
 * (its transactional mail and the other submitter's bulk mail from the same domain flow),
 * the pool's status report names it, and `hikyaku holds release --submitter` lets its
 * mail go.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  codecs,
  type FeedbackEnvelope,
  MSG_IDS,
  openSourceReports,
  REDIS_KEYS,
  SUBJECTS,
} from '@hikyaku/core';
import { createTestClock, runHoldsCli } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z') });
const BOUNCES = 'bounces.shop.test';
let receiver: SmtpSink;
let relay: ShapingFixture;

before(async () => {
  receiver = await startSmtpSink({ host: '127.0.0.28', port: 0 });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '200', HIKYAKU_SCHEDULER_SWEEP_MS: '200' },
    spec: {
      routes: [{ domains: ['dest.test'], host: `127.0.0.28:${receiver.port}` }],
      feedback: {
        bounceDomain: BOUNCES,
        signingKeyFile: 'unused-in-tests',
        senderDomains: ['shop.test'],
        complaints: { warnRate: 0.1, stopRate: 0.2, minDelivered: 2, action: 'defer' },
      },
    },
  });
});

after(async () => {
  await relay?.stop();
  await receiver?.close();
});

function delivered(rcpt: string) {
  return relay.events.some((e) => e.type === 'delivered' && e.rcpt === rcpt);
}

/** A complaint report handed to the pool's complaint address, as the ingress stores it. */
async function complain(returnPath: string, rcpt: string, from: string): Promise<void> {
  let raw = readFileSync(
    new URL('../fixtures/feedback/jmrp-complaint.eml', import.meta.url),
    'utf8',
  );
  for (const [field, value] of Object.entries({
    RETURN_PATH: returnPath,
    RCPT: rcpt,
    FROM: from,
  })) {
    raw = raw.replaceAll(`{{${field}}}`, value);
  }
  const id = `complaint${Date.now()}`;
  const envelope: FeedbackEnvelope = {
    v: 1,
    id,
    pool: relay.pool.key,
    receivedAt: clock.now(),
    from: '',
    to: `fbl@${BOUNCES}`,
    body: await relay.bodies.put(id, Buffer.from(raw.replace(/\r?\n/g, '\r\n'))),
  };
  await relay.admin.js.publish(
    SUBJECTS.feedback(relay.pool.key),
    codecs.feedback.encode(envelope),
    {
      msgID: MSG_IDS.feedback(id),
    },
  );
}

test("a submitter over its stop rate has its bulk mail held, not its domain's other submitters'", async () => {
  const campaigns = ['c1@dest.test', 'c2@dest.test'];
  const billing = Array.from({ length: 8 }, (_, i) => `b${i}@dest.test`);
  await relay.submit({ from: 'news@shop.test', to: campaigns, bulk: true, submitter: 'campaigns' });
  await relay.submit({ from: 'news@shop.test', to: billing, bulk: true, submitter: 'billing' });
  await waitFor('every recipient delivered', () => [...campaigns, ...billing].every(delivered), {
    timeoutMs: 60_000,
  });
  const copy = receiver.messages.find((m) => m.rcpts.includes('c1@dest.test'));
  assert.ok(copy);
  assert.ok(copy.from.endsWith(`@${BOUNCES}`), copy.from);

  // 1 complaint: campaigns 1 in 2 (over 0.2), the domain 1 in 10 (not over 0.1).
  await complain(copy.from, 'c1@dest.test', 'news@shop.test');
  const pool = relay.pool.key;
  await waitFor('campaigns held', async () =>
    relay.redis.hexists(REDIS_KEYS.submitterHolds(pool), 'campaigns'),
  );
  assert.equal(await relay.redis.hexists(REDIS_KEYS.complaintHolds(pool), 'shop.test'), 0);
  assert.equal(await relay.redis.hexists(REDIS_KEYS.complaintLevels(pool), 'shop.test'), 0);

  // What the operator shows on the pool's status (Degraded, ComplaintRateHigh).
  const reports = await openSourceReports(relay.admin.js);
  const shown = await waitFor('the submitter report for the pool status', async () =>
    // A review may fall between the level and the hold being written: wait for both.
    (await reports.listSubmitterComplaints(pool)).find(
      (r) => r.submitter === 'campaigns' && r.held,
    ),
  );
  assert.deepEqual(shown, {
    submitter: 'campaigns',
    level: 'stop',
    rate: 0.5,
    delivered: 2,
    complaints: 1,
    held: true,
  });
  assert.deepEqual(await reports.listComplaints(pool), []);

  await relay.submit({
    from: 'news@shop.test',
    to: ['held@dest.test'],
    bulk: true,
    submitter: 'campaigns',
  });
  await relay.submit({ from: 'orders@shop.test', to: ['tx@dest.test'], submitter: 'campaigns' });
  await relay.submit({
    from: 'news@shop.test',
    to: ['other@dest.test'],
    bulk: true,
    submitter: 'billing',
  });
  await waitFor("the transactional and the other submitter's mail delivered", () =>
    ['tx@dest.test', 'other@dest.test'].every(delivered),
  );
  await waitFor('the held item deferred for its submitter', async () =>
    /hikyaku_scheduler_deferrals_total\{[^}]*reason="submitter-complaint-hold"[^}]*\} [1-9]/.test(
      (await relay.schedulers[0]?.registry.metrics()) ?? '',
    ),
  );
  assert.equal(delivered('held@dest.test'), false);
  const gauges = (await relay.schedulers[0]?.registry.metrics()) ?? '';
  assert.match(
    gauges,
    /hikyaku_scheduler_submitter_complaint_level\{[^}]*submitter="campaigns"[^}]*\} 2/,
  );
  // 1 complaint in 2 delivered; a review after campaigns' transactional message was
  // delivered counts 1 in 3.
  assert.match(
    gauges,
    /hikyaku_scheduler_submitter_complaint_rate\{[^}]*submitter="campaigns"[^}]*\} (0\.5|0\.333\d*)\n/,
  );

  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
  const cli = ['--redis', relay.redisUrl, '--pool', pool];
  assert.equal(await runHoldsCli(['list', ...cli], io), 0);
  assert.match(
    out.join('\n'),
    /^submitter campaigns\theld since .*50\.00 % \(1 complaints, 2 delivered\)$/m,
  );
  assert.equal(await runHoldsCli(['release', ...cli, '--submitter', 'campaigns'], io), 0);
  assert.equal(out.at(-1), 'released submitter campaigns');
  await waitFor('the held mail delivered after the release', () => delivered('held@dest.test'));
  assert.equal(await runHoldsCli(['list', ...cli, '--submitter'], io), 2);
});
