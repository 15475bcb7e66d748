/**
 * The whole relay with JetStream's data on a small tmpfs, filled up while jobs are waiting
 * for the sender. The relay refuses new mail until space is back (452 4.3.1, from the
 * second attempt on already at MAIL FROM), the sender delivers only what it had started
 * and nothing twice, and once space is freed delivery resumes and new mail is taken
 * again: every message answered 250 arrives, none more than twice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectNats, type NatsHandles } from '@hikyaku/core';
import { type ChildServer, freePort, sleep, startNatsServer, waitFor } from '@hikyaku/testing';
import { FILLER_STREAM, fillJetStream, mountSmallDisk } from '../harness/full-disk.ts';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

const CONCURRENCY = 3;
const IPS = 2;
const MESSAGES = 24;

const disk = mountSmallDisk('hikyaku-relay-full-');

let nats: ChildServer;
let admin: NatsHandles;
let relay: RelayFixture;

before(async () => {
  if (disk.skip) return;
  nats = await startNatsServer({ port: await freePort(), dataDir: join(disk.dir, 'nats') });
  relay = await startRelayFixture({
    natsUrl: nats.url,
    env: {
      HIKYAKU_STORE_TIMEOUT_MS: '10000',
      HIKYAKU_SENDER_CONCURRENCY: String(CONCURRENCY),
    },
  });
  admin = await connectNats({ url: nats.url, name: 'full-disk-test' });
});

after(async () => {
  await admin?.nc.close();
  await relay?.stop();
  await nats?.stop();
  disk.unmount();
});

function copies(prefix: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of relay.sink.messages) {
    const marker = /^Subject: test (\S+)/m.exec(m.raw.toString('latin1'))?.[1];
    if (marker?.startsWith(prefix)) counts.set(marker, (counts.get(marker) ?? 0) + 1);
  }
  return counts;
}

/** One message through the ingress: 250, or the refusal's code, text and command. */
async function send(marker: string): Promise<{ code: number; response: string; command: string }> {
  const client = relayClient(relay.stack, 1);
  const to = `${marker}@example.test`;
  try {
    await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: [to] },
      raw: rawMessage({ from: 'app@hikyaku.test', to, marker, bodyBytes: 4096 }),
    });
    return { code: 250, response: '', command: '' };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; command?: string };
    return {
      code: e.responseCode ?? 0,
      response: e.response ?? String(err),
      command: e.command ?? '',
    };
  } finally {
    client.close();
  }
}

describe('the relay with JetStream out of space', { skip: disk.skip }, () => {
  it('refuses new mail until space is back, delivers nothing more than twice, resumes', {
    timeout: 600_000,
  }, async (t) => {
    // Jobs ready and waiting for a sender, so the sender meets the full disk mid-work.
    await relay.stack.services.sender.stop();
    const accepted: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const reply = await send(`full-${i}`);
      assert.equal(reply.code, 250, reply.response);
      accepted.push(`full-${i}`);
    }
    await waitFor(
      'every message scheduled',
      () => relay.events.filter((e) => e.type === 'scheduled').length >= MESSAGES,
      { timeoutMs: 60_000 },
    );

    await fillJetStream(admin, [256 * 1024, 16 * 1024, 512]);
    const refused = await send('while-full');
    assert.equal(refused.code, 452, refused.response);
    assert.match(refused.response, /4\.3\.1 Mail system full/);
    assert.equal(refused.command, 'DATA', 'the first refusal comes with the data');
    const held = await send('while-full-2');
    assert.equal(held.code, 452, held.response);
    assert.equal(held.command, 'MAIL FROM', 'then new mail is refused before its data');

    await relay.stack.services.sender.start();
    // The sender holds twice as many jobs as it has delivery slots, and a delivered job gives
    // its slot to the next before its result is stored: those it holds are delivered, and
    // their results cannot be stored. Give it time to deliver anything it should not.
    await waitFor('the sender delivering', () => copies('full-').size > 0, { timeoutMs: 60_000 });
    await sleep(15_000);
    const whileFull = copies('full-');
    t.diagnostic(`delivered while JetStream was full: ${whileFull.size} of ${MESSAGES}`);
    assert.ok(
      whileFull.size <= 2 * CONCURRENCY * IPS,
      'no delivery beyond the jobs held while results cannot be stored',
    );
    assert.deepEqual(
      [...whileFull].filter(([, n]) => n > 1),
      [],
      'nothing delivered again while results cannot be stored',
    );

    await admin.jsm.streams.delete(FILLER_STREAM);
    const after = await waitFor(
      'new mail accepted again',
      async () => {
        const reply = await send(`after-${Date.now()}`);
        return reply.code === 250 ? reply : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    assert.equal(after.code, 250);
    await waitFor(
      'every accepted message delivered',
      () => {
        const delivered = copies('full-');
        return accepted.every((m) => delivered.has(m)) && copies('after-').size > 0;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    const delivered = copies('full-');
    const twice = [...delivered].filter(([, n]) => n === 2).length;
    t.diagnostic(`after space was freed: ${delivered.size} delivered, ${twice} twice`);
    assert.deepEqual(
      [...delivered].filter(([, n]) => n > 2),
      [],
      'no message delivered more than twice',
    );
    assert.ok(!copies('while-full').size, 'a refused message is not delivered');
  });
});
