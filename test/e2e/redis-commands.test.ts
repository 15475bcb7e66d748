/**
 * The Redis commands the relay sends per relayed message (one recipient, delivered at the
 * first try), counted with MONITOR on the test's own redis-server: each stage folds its
 * reads and writes into one script or one lookup, so the count stays at a handful and
 * cannot creep back unseen. Commands a script runs inside Redis are counted apart: they
 * cost no round trip. Whole-table reads (HGETALL) come from timers, not from messages: the
 * queue stage's copy of the destination holds (at most once a second) and the throttle
 * sweep (once a minute); so do the body purger's commands (its lease and the ended bodies
 * it reads and trims, keys `hikyaku:{bodies}:…`, every 5 s at wire version 2, the relay's
 * default). Both are bounded by the time the run took instead.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectNats, type NatsHandles, REDIS_KEYS, STREAMS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { Redis } from 'ioredis';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';

/**
 * docs/performance.md: ingress 1, envelope stage 1 (the suppression lookup, the turn check
 * and the reservation in one call: the message leaves from there), result stage 1.
 */
const MAX_SENT_PER_MESSAGE = 3;
/** What the body purger's own commands start with (a result's batch ends bodies inside its script). */
const PURGER_KEYS = new Set<string>([
  REDIS_KEYS.bodiesEnded,
  REDIS_KEYS.bodiesCopied,
  REDIS_KEYS.bodiesPurger,
]);
const MESSAGES = 100;

let relay: RelayFixture;
/** Looks whether the result stage is done; its own commands are not counted. */
let poller: Redis | undefined;
let nats: NatsHandles | undefined;

before(async () => {
  relay = await startRelayFixture();
});

after(async () => {
  poller?.disconnect();
  await nats?.nc.close();
  await relay?.stop();
});

async function relayMessages(prefix: string, count: number): Promise<void> {
  const client = relayClient(relay.stack, 5);
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const to = `${prefix}${i}@example.test`;
        await client.sendMail({
          envelope: { from: 'app@hikyaku.test', to: [to] },
          raw: rawMessage({ from: 'app@hikyaku.test', to, marker: `${prefix}${i}` }),
        });
      }),
    );
  } finally {
    client.close();
  }
  await waitFor(
    `${count} ${prefix} messages delivered`,
    () =>
      relay.events.filter((e) => e.type === 'delivered' && e.rcpt.startsWith(prefix)).length >=
      count,
    { timeoutMs: 120_000 },
  );
  // The result stage writes to Redis after it published the delivered event, and removes
  // the message's body after that write.
  await waitFor('every body removed', async () => {
    nats ??= await connectNats({ url: relay.stack.natsUrl, name: 'redis-commands-test' });
    return (await nats.jsm.streams.info(STREAMS.bodies)).state.messages === 0;
  });
}

test(`a relayed message costs at most ${MAX_SENT_PER_MESSAGE} Redis commands`, async (t) => {
  // Scripts are loaded, pools read and caches filled by the first messages.
  poller = new Redis(relay.stack.redisUrl);
  await relayMessages('warm', 10);
  const own = `${poller.stream.localAddress}:${poller.stream.localPort}`;
  const monitor = await poller.monitor();
  const sent = new Map<string, number>();
  let inScripts = 0;
  let tableReads = 0;
  let purgerCommands = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === own) return;
    if (source === 'lua') {
      inScripts++;
      return;
    }
    const name = String(args[0]).toLowerCase();
    // A script's first key follows the script and its key count; a command's, its name.
    const firstKey = String(name === 'evalsha' ? args[3] : args[1]);
    if (PURGER_KEYS.has(firstKey)) {
      purgerCommands++;
      return;
    }
    if (name === 'hgetall') {
      tableReads++;
      return;
    }
    sent.set(name, (sent.get(name) ?? 0) + 1);
  });
  const started = performance.now();
  try {
    await relayMessages('count', MESSAGES);
  } finally {
    monitor.disconnect();
  }
  const seconds = (performance.now() - started) / 1000;
  const total = [...sent.values()].reduce((a, b) => a + b, 0);
  t.diagnostic(
    `per message: ${(total / MESSAGES).toFixed(2)} sent (${[...sent]
      .map(([name, n]) => `${name} ${(n / MESSAGES).toFixed(2)}`)
      .join(', ')}), ${(inScripts / MESSAGES).toFixed(2)} run inside scripts; ` +
      `${tableReads} table reads and ${purgerCommands} purger commands in ${seconds.toFixed(1)} s`,
  );
  assert.ok(
    tableReads <= Math.ceil(seconds) + 2,
    `${tableReads} HGETALL in ${seconds.toFixed(1)} s: a table is read per message`,
  );
  // A purge cycle: the lease, the ended bodies read (a page per 1,000) and trimmed.
  assert.ok(
    purgerCommands <= 4 * (Math.ceil(seconds / 5) + 2),
    `${purgerCommands} purger commands in ${seconds.toFixed(1)} s: the purger works per message`,
  );
  assert.ok(
    total <= MAX_SENT_PER_MESSAGE * MESSAGES,
    `${total} commands for ${MESSAGES} messages: ${JSON.stringify([...sent])}`,
  );
});
