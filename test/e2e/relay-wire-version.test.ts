/**
 * The relay's wire version through the whole relay (ingress, scheduler and sender as
 * processes, none told HIKYAKU_WIRE_VERSION). On a relay whose streams an earlier release
 * created, the pods write wire version 1: body and envelope stored apart, bodies removed
 * one by one, as pods of that release still running in the same upgrade read. After
 * `hikyaku wire-version --set 2` and a restart they store each message in one write and
 * remove bodies in purges. Each message is delivered once throughout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  connectNats,
  DEFAULT_LAYOUT,
  METRICS,
  type NatsHandles,
  STREAMS,
  streamConfigs,
} from '@hikyaku/core';
import { runWireVersionCli } from '@hikyaku/scheduler';
import { type ChildServer, freePort, startNatsServer, waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { type RelayFixture, rawMessage, startRelayFixture } from '../harness/relay.ts';
import { counterSum, scrape } from '../harness/replicas.ts';

const FROM = 'app@hikyaku.test';
const PER_RUN = 6;
let dir: string;
let nats: ChildServer;
let admin: NatsHandles;
let relay: RelayFixture;
const lines: { name: string; line: string }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-relay-wire-'));
  nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, 'nats') });
  admin = await connectNats({ url: nats.url, name: 'relay-wire-version-test' });
  // What an earlier release leaves on the relay's NATS: its streams, no relay settings.
  for (const config of streamConfigs(DEFAULT_LAYOUT)) {
    if (config.name === STREAMS.envelopes || config.name === STREAMS.bodies) {
      await admin.jsm.streams.add(config);
    }
  }
  relay = await startRelayFixture({
    natsUrl: nats.url,
    env: { HIKYAKU_LOG_LEVEL: 'info' },
    onOutput: (name, line) => lines.push({ name, line }),
  });
});

after(async () => {
  await admin?.nc.close();
  await relay?.stop();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runWireVersionCli(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { NATS_URL: nats.url },
  });
  return { code, out, err };
}

const lastSeq = async (stream: string): Promise<number> =>
  (await admin.jsm.streams.info(stream)).state.last_seq;

const markerOf = (raw: Buffer): string | undefined =>
  /^Subject: test (\S+)/m.exec(raw.toString('latin1'))?.[1];
const copies = (marker: string): number =>
  relay.sink.messages.filter((m) => markerOf(m.raw) === marker).length;

async function sendAndDeliver(prefix: string): Promise<void> {
  const sent = Array.from({ length: PER_RUN }, (_, i) => `${prefix}-${i}`);
  const client = createTransport({
    host: relay.stack.smtpHost,
    port: relay.stack.smtpPort,
    secure: false,
    ignoreTLS: true,
  });
  try {
    for (const marker of sent) {
      const to = `${marker}@example.test`;
      await client.sendMail({
        envelope: { from: FROM, to: [to] },
        raw: rawMessage({ from: FROM, to, marker }),
      });
    }
  } finally {
    client.close();
  }
  await waitFor(`${prefix}: every message delivered`, () => sent.every((m) => copies(m) >= 1));
  assert.deepEqual(
    sent.filter((m) => copies(m) !== 1),
    [],
    'each arrived once',
  );
}

/** What a service logged at its last start: the wire version and the body removal. */
function started(service: string, msg: string): Record<string, unknown> | undefined {
  const entries = lines
    .filter((l) => l.name === service || l.name.startsWith(`${service}-`))
    .map((l) => {
      try {
        return JSON.parse(l.line) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    })
    .filter((e) => e?.msg === msg);
  return entries.at(-1);
}

test('a relay an earlier release set up writes wire version 1 and removes bodies one by one', async () => {
  const shown = await cli();
  assert.equal(shown.code, 0, shown.err.join('\n'));
  assert.deepEqual(shown.out, ['wire version 1']);
  for (const service of ['ingress', 'scheduler', 'sender']) {
    const logged = started(service, 'wire version');
    assert.equal(logged?.wireVersion, 1, service);
    assert.equal(logged?.from, 'relay', service);
  }
  assert.equal(started('scheduler', 'body removal')?.bodyRemoval, 'each');

  const envelopes = await lastSeq(STREAMS.envelopes);
  const bodies = await lastSeq(STREAMS.bodies);
  await sendAndDeliver('at-1');
  assert.equal(await lastSeq(STREAMS.envelopes), envelopes + PER_RUN, 'envelopes stored apart');
  assert.equal(await lastSeq(STREAMS.bodies), bodies + PER_RUN);
  // Removed one by one: no purger runs.
  const metrics = await scrape(relay.stack.services.scheduler.opsPort);
  assert.equal(counterSum(metrics, METRICS.schedulerBodyPurges), 0);
});

test('raised with hikyaku wire-version --set 2, the pods write 2 from their next start and purge bodies', async () => {
  const set = await cli('--set', '2');
  assert.equal(set.code, 0, set.err.join('\n'));
  assert.match(set.out.join('\n'), /^wire version set to 2;/);
  const json = await cli('--json');
  assert.equal((JSON.parse(json.out[0] ?? '{}') as { wireVersion: number }).wireVersion, 2);

  // `kubectl rollout restart`, here one service after the other.
  for (const service of Object.values(relay.stack.services)) {
    await service.stop();
    await service.start();
  }
  for (const service of ['ingress', 'scheduler', 'sender']) {
    assert.equal(started(service, 'wire version')?.wireVersion, 2, service);
  }
  assert.equal(started('scheduler', 'body removal')?.bodyRemoval, 'purge');

  const envelopes = await lastSeq(STREAMS.envelopes);
  const bodies = await lastSeq(STREAMS.bodies);
  await sendAndDeliver('at-2');
  assert.equal(await lastSeq(STREAMS.envelopes), envelopes, 'no envelope stored apart');
  assert.equal(await lastSeq(STREAMS.bodies), bodies + PER_RUN, 'one write per message');
  // The purger removes the delivered bodies together (every 5 s by default), and counts it.
  await waitFor('the delivered bodies purged', async () => {
    const { state } = await admin.jsm.streams.info(STREAMS.bodies);
    return state.first_seq > bodies + PER_RUN;
  });
  const metrics = await scrape(relay.stack.services.scheduler.opsPort);
  assert.ok(counterSum(metrics, METRICS.schedulerBodiesPurged) >= PER_RUN, metrics);
  assert.match(
    metrics,
    new RegExp(`^${METRICS.schedulerBodyPurges}\\{[^}]*result="purged"[^}]*\\} [1-9]`, 'm'),
  );
});

test('hikyaku wire-version refuses a version it does not write, and a relay nothing set up', async () => {
  const bad = await cli('--set', '3');
  assert.equal(bad.code, 2);
  assert.match(bad.err.join('\n'), /--set must be one of 1, 2, got "3"/);

  const empty = await startNatsServer({ port: await freePort(), dataDir: join(dir, 'empty') });
  try {
    const err: string[] = [];
    const code = await runWireVersionCli(['--set', '2'], {
      out: () => undefined,
      err: (l) => err.push(l),
      env: { NATS_URL: empty.url },
    });
    assert.equal(code, 1);
    assert.match(err.join('\n'), /\[HIKYAKU_NOT_FOUND\] no hikyaku-relay bucket/);
  } finally {
    await empty.stop();
  }
});
