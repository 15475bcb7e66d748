/**
 * Retries and maximum age: a message whose destination defers it forever is retried on
 * the pool's schedule (1m, 5m, 15m, 1h, 4h, then every 4h) and, at 72 hours, expires with
 * 4.4.7 exactly once; its sender gets one DSN, sent from the null sender through the
 * normal path. The test clock runs 12,000 times real time: 72 hours pass in 21.6 seconds
 * (faster, a stall of the machine becomes hours of clock).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestClock } from '@hikyaku/scheduler';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { type ShapingFixture, startShapingFixture, waitFor } from './harness.ts';

const HOUR = 3600_000;
const clock = createTestClock({ start: Date.parse('2026-12-01T09:00:00Z'), speed: 12_000 });
let never: SmtpSink;
let busy: SmtpSink;
let senders: SmtpSink;
let relay: ShapingFixture;
const attempts: number[] = [];
let busyAttempts = 0;

before(async () => {
  never = await startSmtpSink({
    host: '127.0.0.23',
    port: 0,
    behaviour: {
      onRcpt() {
        attempts.push(clock.now());
        return { code: 451, message: '4.3.0 Mailbox temporarily unavailable' };
      },
    },
  });
  // Asks to slow down once: the pause that follows outlasts the message's maximum age.
  busy = await startSmtpSink({
    host: '127.0.0.25',
    port: 0,
    behaviour: {
      onRcpt() {
        busyAttempts++;
        return { code: 421, message: '4.7.0 Too many messages, slow down' };
      },
    },
  });
  senders = await startSmtpSink({ host: '127.0.0.24', port: 0 });
  relay = await startShapingFixture({
    clock,
    env: { HIKYAKU_SCHEDULER_MAX_PARK_MS: '1000' },
    spec: {
      routes: [
        { domains: ['never.test'], host: `127.0.0.23:${never.port}` },
        { domains: ['sender.test'], host: `127.0.0.24:${senders.port}` },
        { domains: ['busy.test'], host: `127.0.0.25:${busy.port}` },
      ],
      ratePolicies: [
        {
          name: 'busy',
          match: { domains: ['busy.test'] },
          // At the lowest rate already, so a signal pauses the pair instead of cutting it.
          perIp: { messagesPerMinute: 1 },
          onThrottle: { pause: '100h', factor: 0.5, recoverAfter: '1h' },
        },
      ],
      retry: { schedule: ['1m', '5m', '15m', '1h', '4h'], maxAge: '72h' },
      bounces: { notifySender: true, suppressHardBounces: true },
    },
  });
});

after(async () => {
  await relay?.stop();
  await never?.close();
  await busy?.close();
  await senders?.close();
});

test('deferred forever: 4.4.7 after max age, exactly once, with one DSN', async (t) => {
  const receivedAt = clock.now();
  const id = await relay.submit({ from: 'app@sender.test', to: ['forever@never.test'] });
  const expired = await waitFor(
    'the expiry',
    () => relay.eventsOf('expired').find((e) => e.id === id),
    { timeoutMs: 90_000 },
  );
  const triedBeforeExpiry = attempts.length;
  const dsn = await waitFor('the DSN', () => senders.messages[0], { timeoutMs: 10_000 });
  // Ten more hours of clock: no second expiry, no second DSN, no further attempt.
  const quiet = clock.now() + 10 * HOUR;
  await waitFor('ten quiet hours', () => clock.now() > quiet);

  const gaps = attempts
    .slice(1)
    .map((at, i) => Math.round((at - (attempts[i] as number)) / 60_000));
  t.diagnostic(
    `${attempts.length} attempts, gaps in minutes: ${gaps.join(' ')}; ` +
      `expired at +${((expired.at - receivedAt) / HOUR).toFixed(2)} h`,
  );
  assert.equal(relay.eventsOf('expired').filter((e) => e.id === id).length, 1);
  assert.equal(expired.reply?.enhanced, '4.4.7');
  assert.ok(expired.at >= receivedAt + 72 * HOUR, 'not before max age');
  assert.equal(attempts.length, triedBeforeExpiry, 'no try after the expiry');
  // The last try is due at max age itself; one round trip is some minutes of this clock.
  assert.ok((attempts.at(-1) as number) <= receivedAt + 74 * HOUR, 'no try long after max age');
  // The schedule: 1m, 5m, 15m, 1h, 4h (each -10%..+10%), then 4h again. At this clock
  // speed one delivery round trip (~0.1 s real) is 20 minutes of clock, so gaps are checked
  // for never coming early; the schedule's exact values are tested in core's retry policy.
  const schedule = [1, 5, 15, 60, 240];
  // The last gap ends at the deadline, where the policy moves the last try.
  gaps.slice(0, -1).forEach((gap, i) => {
    const expected = schedule[Math.min(i, schedule.length - 1)] as number;
    assert.ok(gap >= Math.floor(expected * 0.9), `retry ${i + 1} came after ${gap} min`);
  });
  assert.ok(attempts.length >= 12, `only ${attempts.length} attempts in 72 h`);

  assert.equal(senders.messages.length, 1, 'exactly one DSN');
  assert.equal(dsn.from, '', 'a DSN comes from the null sender');
  assert.deepEqual(dsn.rcpts, ['app@sender.test']);
  const text = dsn.raw.toString('latin1');
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/i);
  assert.match(text, /Final-Recipient: rfc822; forever@never\.test/);
  assert.match(text, /Action: failed/);
  assert.match(text, /Status: 4\.4\.7/);
  assert.match(text, /Diagnostic-Code: smtp; 451 4\.3\.0 Mailbox temporarily unavailable/);
  assert.match(text, /Auto-Submitted: auto-replied/);
});

test('expiring while it waits, a message still tells its sender the last reply', async () => {
  const dsnsBefore = senders.messages.length;
  const id = await relay.submit({ from: 'app@sender.test', to: ['later@busy.test'] });
  const expired = await waitFor(
    'the expiry',
    () => relay.eventsOf('expired').find((e) => e.id === id),
    { timeoutMs: 90_000 },
  );
  // One attempt from each of the pool's two IPs, each then paused for longer than the
  // maximum age: the next retry waited, parked, until the message expired.
  assert.equal(busyAttempts, 2);
  assert.match(expired.reply?.text ?? '', /while waiting to be sent; last reply: 421 /);
  assert.match(expired.reply?.text ?? '', /slow down/);
  const dsn = await waitFor('the DSN', () => senders.messages[dsnsBefore], { timeoutMs: 10_000 });
  const text = dsn.raw.toString('latin1');
  assert.match(text, /Final-Recipient: rfc822; later@busy\.test/);
  assert.match(text, /Status: 4\.4\.7/);
  assert.match(text, /Diagnostic-Code: smtp; 421 4\.7\.0 Too many messages, slow down/);
  assert.match(text, /Last-Attempt-Date: /);
});
