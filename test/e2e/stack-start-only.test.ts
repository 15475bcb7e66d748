/**
 * A local stack started with `startOnly`: the ingress alone accepts and stores mail and
 * nothing delivers it, since the scheduler and sender were never started.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectNats, STREAMS } from '@hikyaku/core';
import { type LocalStack, startLocalStack } from '@hikyaku/local';
import { freePort, type SmtpSink, startSmtpSink } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { testPool } from '../harness/relay.ts';

let dir: string;
let sink: SmtpSink;
let stack: LocalStack;
const steps: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-start-only-'));
  sink = await startSmtpSink({ host: '127.0.0.10', port: 0 });
  stack = await startLocalStack({
    pool: testPool({ sinkHost: sink.host, sinkPort: sink.port }),
    dataDir: join(dir, 'stack'),
    smtpPort: await freePort(),
    env: { HIKYAKU_LOG_LEVEL: 'warn' },
    startOnly: ['ingress'],
    onProgress: (step) => steps.push(step),
  });
});

after(async () => {
  await stack?.stop();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the ingress alone stores what it accepts, and nothing is delivered', async () => {
  assert.equal(steps.at(-1), 'ingress');
  assert.ok(stack.services.ingress.pid);
  assert.equal(stack.services.scheduler.pid, undefined);
  assert.equal(stack.services.sender.pid, undefined);

  const client = createTransport({ host: stack.smtpHost, port: stack.smtpPort });
  for (const n of [1, 2, 3]) {
    const info = await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: `rcpt${n}@example.test` },
      raw: `Subject: alone ${n}\r\n\r\nstored, not sent\r\n`,
    });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
  }
  client.close();

  const nats = await connectNats({ url: stack.natsUrl, name: 'start-only-test' });
  try {
    const bodies = await nats.jsm.streams.info(STREAMS.bodies);
    assert.equal(bodies.state.messages, 3);
  } finally {
    await nats.nc.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(sink.messages.length, 0);
  assert.equal(sink.stats.connections, 0);
});
