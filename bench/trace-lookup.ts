/**
 * How long `hikyaku trace` takes to find one message among many stored events: fills a
 * private nats-server's events stream with `--events` keyed delivery events (one message
 * each; every `--per-recipient`-th shares a recipient), then times lookups by queue id,
 * Message-ID and recipient, as the command runs them. Prints one JSON line.
 *
 *   node --import tsx --conditions=hikyaku-source bench/trace-lookup.ts --events 100000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectNats, ensureStreams, STREAMS } from '@hikyaku/core';
import { createEventPublisher, deliveryEvent, runTraceCli } from '@hikyaku/scheduler';
import { freePort, startNatsServer } from '@hikyaku/testing';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    'per-recipient': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
  },
});
const total = Number(values.events);
const perRecipient = Number(values['per-recipient']);
const rounds = Number(values.rounds);

const dir = mkdtempSync(join(tmpdir(), 'hikyaku-trace-lookup-'));
const server = await startNatsServer({ port: await freePort(), dataDir: join(dir, 'nats') });
const nats = await connectNats({ url: server.url, name: 'trace-lookup-bench' });
try {
  await ensureStreams(nats.jsm);
  const events = createEventPublisher(nats.js, nats.nc);
  const pool = 'bench_pool';
  const now = Date.now();
  for (let start = 0; start < total; start += 1000) {
    const batch = [];
    for (let i = start; i < Math.min(total, start + 1000); i++) {
      const base = {
        id: `Q${i}`,
        pool,
        receivedAt: now - 500,
        messageId: `m${i}@bench.test`,
        ip: '192.0.2.1',
        attempt: 0,
        dispatchedAt: now - 100,
        domain: 'bench.test',
      };
      const rcpt = `r${Math.floor(i / perRecipient)}@bench.test`;
      batch.push(deliveryEvent('delivered', base, rcpt, now, { code: 250, text: 'Ok' }));
    }
    await events.publish(batch);
  }
  const stored = (await nats.jsm.streams.info(STREAMS.events)).state.messages;
  const io = { out: () => undefined, err: () => undefined, env: { NATS_URL: server.url } };
  const timings: Record<string, number[]> = { queueId: [], messageId: [], recipient: [] };
  for (let r = 0; r < rounds; r++) {
    const i = Math.floor((total / (rounds + 1)) * (r + 1));
    const keys: [string, string][] = [
      ['queueId', `Q${i}`],
      ['messageId', `<m${i}@bench.test>`],
      ['recipient', `r${Math.floor(i / perRecipient)}@bench.test`],
    ];
    for (const [kind, key] of keys) {
      const t0 = performance.now();
      const code = await runTraceCli([key], io);
      if (code !== 0) throw new Error(`${kind} ${key} not found`);
      (timings[kind] as number[]).push(Math.round(performance.now() - t0));
    }
  }
  console.log(JSON.stringify({ storedEvents: stored, perRecipient, lookupMs: timings }));
} finally {
  await nats.nc.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
