/**
 * Feedback by mail through the whole relay (local stack, real processes): the sender sends
 * with the pool's signed return path, reports sent back to it by anyone are taken (and
 * nothing else is), a late bounce suppresses its recipient, a forged one changes nothing,
 * and a complaint that puts a sender domain over its stop rate holds that domain's bulk
 * mail while its transactional mail and other domains' mail still flow.
 *
 * The relay client sends from 127.0.0.1, the only allowed network; reports come from
 * 127.0.7.9, a "mail server on the Internet" that may not relay.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  createSuppressionList,
  deriveReturnPathKey,
  openSourceReports,
  parseReturnPath,
  REDIS_KEYS,
  returnPathAddress,
  verifyReturnPath,
} from '@hikyaku/core';
import { cliInvocation } from '@hikyaku/local';
import { runHoldsCli } from '@hikyaku/scheduler';
import type { ReceivedMessage } from '@hikyaku/testing';
import { waitFor } from '@hikyaku/testing';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { type RelayFixture, startRelayFixture } from '../harness/relay.ts';
import { message, session } from '../ingress/smtp-client.ts';

const SECRET = 'feedback test secret';
const BOUNCES = 'bounces.hikyaku.test';
const OUTSIDE = '127.0.7.9';

let relay: RelayFixture;
let redis: Redis;
let key: Buffer;

before(async () => {
  relay = await startRelayFixture({
    sinkHost: '127.0.7.1',
    feedbackSecret: SECRET,
    // Held mail looks again within a second, so a release shows quickly.
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '500', HIKYAKU_SCHEDULER_SWEEP_MS: '300' },
    spec: {
      allowedNetworks: ['127.0.0.1/32'],
      feedback: {
        bounceDomain: BOUNCES,
        signingKeyFile: 'unused-in-tests',
        senderDomains: ['news.test', 'shop.test'],
        maxReportSize: 20_000,
        reportsPerMinute: 8,
        complaints: {
          warnRate: 0.1,
          stopRate: 0.2,
          minDelivered: 2,
          action: 'defer',
          window: '7d',
        },
      },
    },
  });
  redis = new Redis(relay.stack.redisUrl);
  key = deriveReturnPathKey(SECRET, relay.stack.pool.key);
});

after(async () => {
  redis?.disconnect();
  await relay?.stop();
});

function fixture(name: string, fill: Record<string, string>): string {
  let text = readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url), 'utf8');
  for (const [field, value] of Object.entries(fill)) text = text.replaceAll(`{{${field}}}`, value);
  return text.replace(/\r?\n/g, '\r\n');
}

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function counter(name: string, labels: string): Promise<number> {
  const text = await scrape(relay.stack.services.scheduler.opsPort);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function relaySend(from: string, to: string[], marker: string, bulk = false) {
  const client = await session({ port: relay.stack.smtpPort });
  const extra = bulk ? ['List-Unsubscribe: <mailto:unsubscribe@news.test>'] : [];
  const reply = await client.send(from, to, message(marker, extra));
  await client.quit();
  assert.equal(reply.code, 250, reply.line);
}

async function delivered(marker: string, count = 1): Promise<ReceivedMessage[]> {
  return waitFor(`${count} delivery of ${marker}`, () => {
    const found = relay.sink.messages.filter((m) => m.raw.includes(`Subject: ${marker}`));
    return found.length >= count ? found : undefined;
  });
}

/** The hikyaku command as an admin runs it, in its own process; its output. */
async function hikyaku(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [...cliInvocation(), ...args]);
  return stdout;
}

/** A report handed in by a server outside the pool's networks. */
async function report(to: string, raw: string): Promise<number> {
  const client = await session({ port: relay.stack.smtpPort, localAddress: OUTSIDE });
  const reply = await client.send('', [to], raw);
  await client.quit();
  return reply.code;
}

describe('feedback by mail', () => {
  it('sends with a signed return path, one recipient per delivery, for the chosen sender domains', async () => {
    await relaySend('app@news.test', ['ann@example.test', 'bob@example.test'], 'rp-1');
    const copies = await delivered('rp-1', 2);
    for (const copy of copies) {
      assert.equal(copy.rcpts.length, 1);
      assert.ok(copy.from.endsWith(`@${BOUNCES}`), copy.from);
      const token = parseReturnPath(copy.from);
      assert.ok(token);
      assert.equal(
        verifyReturnPath(key, relay.stack.pool.key, token, copy.rcpts[0] as string),
        true,
      );
    }
    // Events keep the message's own id and recipient; only the wire carries the token.
    const event = await waitFor('delivered event', () =>
      relay.events.find((e) => e.type === 'delivered' && e.rcpt === 'ann@example.test'),
    );
    const ann = copies.find((c) => c.rcpts[0] === 'ann@example.test');
    assert.equal(parseReturnPath(ann?.from ?? '')?.id, event.id);

    await relaySend('app@other.test', ['ann@example.test', 'bob@example.test'], 'rp-2');
    const [kept] = await delivered('rp-2');
    assert.equal(kept?.from, 'app@other.test');
    assert.equal(kept?.rcpts.length, 2);
  });

  it('takes reports only for the feedback addresses: the relay stays closed', async () => {
    const client = await session({ port: relay.stack.smtpPort, localAddress: OUTSIDE });
    assert.equal((await client.command('MAIL FROM:<>')).code, 250);
    assert.equal((await client.command('RCPT TO:<someone@example.test>')).code, 554);
    assert.equal((await client.command(`RCPT TO:<postmaster@${BOUNCES}>`)).code, 554);
    assert.equal((await client.command(`RCPT TO:<b+notatoken@${BOUNCES}>`)).code, 554);
    const genuine = returnPathAddress({
      key,
      pool: relay.stack.pool.key,
      id: 'AnyMessageId',
      rcpt: 'x@example.test',
      bounceDomain: BOUNCES,
    });
    assert.equal((await client.command(`RCPT TO:<${genuine}>`)).code, 250);
    // A report goes alone: neither another feedback address nor mail to relay rides along.
    assert.equal((await client.command(`RCPT TO:<fbl@${BOUNCES}>`)).code, 452);
    assert.equal((await client.command('RCPT TO:<someone@example.test>')).code, 452);
    await client.command('RSET');
    assert.equal((await client.command('MAIL FROM:<>')).code, 250);
    assert.equal((await client.command(`RCPT TO:<fbl@${BOUNCES}>`)).code, 250);
    await client.quit();
  });

  it('refuses a report over the size limit and a client over its rate', async () => {
    const to = `fbl@${BOUNCES}`;
    const big = `Subject: big\r\n\r\n${'x'.repeat(100)}\r\n`.repeat(300);
    assert.equal(await report(to, big), 552);
    const client = await session({ port: relay.stack.smtpPort, localAddress: '127.0.7.10' });
    const codes: number[] = [];
    for (let i = 0; i < 9; i++) {
      await client.command('MAIL FROM:<>');
      codes.push((await client.command(`RCPT TO:<${to}>`)).code);
      await client.command('RSET');
    }
    await client.quit();
    assert.deepEqual(codes, [250, 250, 250, 250, 250, 250, 250, 250, 452]);
  });

  it('a late bounce at the return path suppresses the recipient end to end', async () => {
    await relaySend('app@news.test', ['gone@example.test'], 'late-1');
    const [copy] = await delivered('late-1');
    assert.ok(copy);
    const code = await report(
      copy.from,
      fixture('rfc3464-failed.eml', { RETURN_PATH: copy.from, RCPT: 'gone@example.test' }),
    );
    assert.equal(code, 250);
    const token = parseReturnPath(copy.from);
    const event = await waitFor('late bounced event', () =>
      relay.events.find((e) => e.type === 'bounced' && e.rcpt === 'gone@example.test'),
    );
    assert.equal(event.late, true);
    assert.equal(event.id, token?.id);
    assert.equal(event.reply?.enhanced, '5.1.1');
    const entry = (
      await createSuppressionList(redis).lookup(relay.stack.pool.key, ['gone@example.test'])
    ).get('gone@example.test');
    assert.equal(entry?.reason, 'hard-bounce');
    assert.equal(entry?.source, 'feedback');

    // What an admin sees: the message's timeline ends with the late bounce, and the
    // suppression list names the report as the source.
    const trace = await hikyaku('trace', '--nats', relay.stack.natsUrl, 'gone@example.test');
    assert.match(trace, new RegExp(`^queue id ${event.id} `, 'm'));
    assert.match(trace, /^ {2}\S+ +delivered +gone@example\.test +attempt 1 /m);
    assert.match(
      trace,
      /^ {2}\S+ +bounced +gone@example\.test +late, reported by mail(?: +to \S+)?: 550 5\.1\.1 /m,
    );
    const listed = await hikyaku(
      'suppressions',
      'lookup',
      '--nats',
      relay.stack.natsUrl,
      '--redis',
      relay.stack.redisUrl,
      '--pool',
      relay.stack.pool.key,
      'gone@example.test',
    );
    assert.match(listed, /^gone@example\.test\s+suppressed\s+hard-bounce\s.*\sfeedback\s/m);

    const client = await session({ port: relay.stack.smtpPort });
    await client.command('MAIL FROM:<app@news.test>');
    const refused = await client.command('RCPT TO:<gone@example.test>');
    await client.quit();
    assert.equal(refused.code, 550);
    assert.match(refused.line, /5\.1\.1/);
  });

  it('a bounce with a forged token suppresses nobody', async () => {
    const forged = returnPathAddress({
      key: deriveReturnPathKey('a guessed secret', relay.stack.pool.key),
      pool: relay.stack.pool.key,
      id: 'ForgedMessageId',
      rcpt: 'ceo@example.test',
      bounceDomain: BOUNCES,
    });
    const before = await counter('hikyaku_scheduler_feedback_reports_total', 'verdict="forged"');
    const code = await report(
      forged,
      fixture('rfc3464-failed.eml', { RETURN_PATH: forged, RCPT: 'ceo@example.test' }),
    );
    assert.equal(code, 250);
    await waitFor(
      'the forged report counted',
      async () =>
        (await counter('hikyaku_scheduler_feedback_reports_total', 'verdict="forged"')) > before,
    );
    const found = await createSuppressionList(redis).lookup(relay.stack.pool.key, [
      'ceo@example.test',
    ]);
    assert.equal(found.size, 0);
    assert.equal(
      relay.events.some((e) => e.rcpt === 'ceo@example.test'),
      false,
    );
  });

  it("a complaint over the stop rate holds that domain's bulk mail while other mail flows", async () => {
    await relaySend('news@shop.test', ['c1@example.test'], 'bulk-1', true);
    await relaySend('news@shop.test', ['c2@example.test'], 'bulk-2', true);
    const [complained] = await delivered('bulk-1');
    assert.ok(complained);
    // Both deliveries counted before the complaint, so the rate is 1 in 2.
    await waitFor('both delivered events', () =>
      ['c1@example.test', 'c2@example.test'].every((rcpt) =>
        relay.events.some((e) => e.type === 'delivered' && e.rcpt === rcpt),
      ),
    );
    const code = await report(
      `fbl@${BOUNCES}`,
      fixture('jmrp-complaint.eml', {
        RETURN_PATH: complained.from,
        RCPT: 'c1@example.test',
        FROM: 'news@shop.test',
      }),
    );
    assert.equal(code, 250);
    const event = await waitFor('complained event', () =>
      relay.events.find((e) => e.type === 'complained' && e.rcpt === 'c1@example.test'),
    );
    assert.equal(event.complaint?.feedbackType, 'abuse');
    const entry = (
      await createSuppressionList(redis).lookup(relay.stack.pool.key, ['c1@example.test'])
    ).get('c1@example.test');
    assert.equal(entry?.reason, 'complaint');
    await waitFor('shop.test held', async () =>
      redis.hexists(REDIS_KEYS.complaintHolds(relay.stack.pool.key), 'shop.test'),
    );

    // What the operator shows on the pool's status (Degraded, ComplaintRateHigh).
    const nc = await connect({ servers: relay.stack.natsUrl });
    const reports = await openSourceReports(jetstream(nc));
    const shown = await waitFor('the complaint report for the pool status', async () =>
      (await reports.listComplaints(relay.stack.pool.key)).find((r) => r.domain === 'shop.test'),
    );
    await nc.close();
    assert.deepEqual(shown, {
      domain: 'shop.test',
      level: 'stop',
      rate: 0.5,
      delivered: 2,
      complaints: 1,
      held: true,
    });

    await relaySend('news@shop.test', ['c3@example.test'], 'bulk-held', true);
    await relaySend('orders@shop.test', ['c3@example.test'], 'transactional-flows');
    await relaySend('news@news.test', ['c3@example.test'], 'other-domain-flows', true);
    await delivered('transactional-flows');
    await delivered('other-domain-flows');
    await waitFor(
      'the held item deferred',
      async () =>
        (await counter('hikyaku_scheduler_deferrals_total', 'reason="complaint-hold"')) > 0,
    );
    assert.equal(
      relay.sink.messages.some((m) => m.raw.includes('Subject: bulk-held')),
      false,
    );

    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
    const cli = ['--redis', relay.stack.redisUrl, '--pool', relay.stack.pool.key];
    assert.equal(await runHoldsCli(['list', ...cli], io), 0);
    assert.match(
      out.join('\n'),
      /^shop\.test\theld since .*50\.00 % \(1 complaints, 2 delivered\)/m,
    );
    assert.equal(await runHoldsCli(['release', ...cli, 'shop.test'], io), 0);
    assert.equal(out.at(-1), 'released shop.test');
    await delivered('bulk-held');
    assert.equal(await runHoldsCli(['release', ...cli], io), 2);
  });
});
