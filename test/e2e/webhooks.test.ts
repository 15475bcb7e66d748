/**
 * Webhooks on the whole relay: messages go in over SMTP, the scheduler records their
 * outcomes, and the pool's sender POSTs them to a real HTTPS receiver, signed. Then the
 * sender is killed (SIGKILL) while it holds a batch the receiver refuses: local mode starts
 * it again, JetStream hands the batch over after its ack wait, and the events arrive.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, waitFor } from '@hikyaku/testing';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';
import { WebhookReceiver } from '../harness/webhook-receiver.ts';
import { makeCertificate } from '../ingress/certs.ts';

const SECRET = 'whsec-e2e-51c0';
let dir: string;
let receiver: WebhookReceiver;
let relay: RelayFixture;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-webhooks-e2e-'));
  const cert = makeCertificate(dir, 'hooks');
  const secretFile = join(dir, 'hook.secret');
  writeFileSync(secretFile, `${SECRET}\n`);
  receiver = new WebhookReceiver(cert, await freePort(), SECRET);
  await receiver.start();
  relay = await startRelayFixture({
    sinkHost: '127.0.7.9',
    spec: {
      bounces: { notifySender: false, suppressHardBounces: false },
      webhooks: [
        {
          name: 'app',
          url: `https://127.0.0.1:${receiver.port}/hooks`,
          events: ['delivered', 'bounced'],
          secretFile,
          maxBatchWait: '1s',
        },
      ],
    },
    env: { HIKYAKU_WEBHOOK_CA_FILE: cert.certFile, HIKYAKU_WEBHOOK_MAX_BACKOFF_MS: '2000' },
    supervise: () => undefined,
  });
  relay.sink.setBehaviour({
    onRcpt: (rcpt) =>
      rcpt.startsWith('bounce-') ? { code: 550, message: '5.1.1 No such user here' } : undefined,
  });
});

after(async () => {
  await relay?.stop();
  await receiver?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function send(to: string, marker: string): Promise<void> {
  const client = relayClient(relay.stack, 1);
  try {
    await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: [to] },
      raw: rawMessage({ from: 'app@hikyaku.test', to, marker }),
    });
  } finally {
    client.close();
  }
}

/** Events the receiver took, as `<type> <rcpt>`. */
function taken(): string[] {
  return receiver.requests
    .filter((r) => r.status === 200)
    .flatMap((r) => r.batch.events.map((e) => `${e.type} ${e.rcpt}`));
}

test('a delivered and a bounced message reach the webhook, signed, with the relay outcome', async () => {
  await send('ok-1@example.test', 'hook-ok');
  await send('bounce-1@example.test', 'hook-bounce');
  await waitFor('both outcomes at the receiver', () =>
    ['delivered ok-1@example.test', 'bounced bounce-1@example.test'].every((e) =>
      taken().includes(e),
    ),
  );
  assert.ok(receiver.requests.every((r) => r.refused === undefined));
  const events = receiver.requests.flatMap((r) => r.batch.events);
  // Only the types asked for: no accepted or scheduled events.
  assert.ok(events.every((e) => e.type === 'delivered' || e.type === 'bounced'));
  const bounce = events.find((e) => e.type === 'bounced');
  assert.equal(bounce?.reply?.code, 550);
  assert.equal(bounce?.messageId, 'hook-bounce@client.hikyaku.test');
  const outcome = relay.events.find((e) => e.type === 'bounced' && e.rcpt === bounce?.rcpt);
  assert.equal(bounce?.id, outcome?.id, 'the queue id the relay recorded');
});

test('a sender killed while it holds a refused batch loses nothing: the batch arrives after a restart', async () => {
  receiver.answer = 500;
  const from = receiver.requests.length;
  await send('ok-2@example.test', 'hook-kill');
  await waitFor('the batch refused once', () =>
    receiver.requests
      .slice(from)
      .some((r) => r.status === 500 && r.batch.events.some((e) => e.rcpt === 'ok-2@example.test')),
  );
  const pid = relay.stack.services.sender.pid;
  assert.ok(pid);
  process.kill(pid, 'SIGKILL');
  receiver.answer = 200;
  await waitFor(
    'the event at the receiver from the restarted sender',
    () =>
      relay.stack.services.sender.pid !== pid && taken().includes('delivered ok-2@example.test'),
    { timeoutMs: 120_000 },
  );
});
