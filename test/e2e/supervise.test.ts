/**
 * Local mode as Kubernetes would treat pods: a scheduler, sender or nats-server that dies
 * is started again and no accepted message is lost; the children of a SIGKILLed local mode
 * do not outlive it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readStackFile } from '@hikyaku/local';
import type { RestartEvent } from '@hikyaku/testing';
import { processRunning, waitFor } from '@hikyaku/testing';
import { type RelayFixture, rawMessage, relayClient, startRelayFixture } from '../harness/relay.ts';
import { spawnLocalMode } from './local-mode-process.ts';

let relay: RelayFixture;
const restarts: RestartEvent[] = [];

before(async () => {
  relay = await startRelayFixture({
    sinkHost: '127.0.7.2',
    supervise: (event) => restarts.push(event),
  });
});

after(async () => {
  await relay?.stop();
});

/**
 * Sends `count` messages as a client MTA does: a 451 (the relay could not store it, so it
 * was not accepted) is tried again a second later. Returns the markers of the messages
 * the relay accepted with 250.
 */
async function sendBatch(prefix: string, count: number): Promise<string[]> {
  const client = relayClient(relay.stack, 2);
  const markers: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const marker = `${prefix}-${i}`;
      const rcpt = `${marker}@example.test`;
      for (let attempt = 1; ; attempt++) {
        try {
          const info = await client.sendMail({
            envelope: { from: 'app@hikyaku.test', to: [rcpt] },
            raw: rawMessage({ from: 'app@hikyaku.test', to: rcpt, marker }),
          });
          assert.match(info.response, /^250 /);
          markers.push(marker);
          break;
        } catch (err) {
          const code = (err as { responseCode?: number }).responseCode;
          if (code !== 451 || attempt >= 60) throw err;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  } finally {
    client.close();
  }
  return markers;
}

function restarted(name: string, after: number): RestartEvent | undefined {
  return restarts.slice(after).find((e) => e.name === name && e.kind === 'restarted');
}

test('a killed scheduler, sender and nats-server are started again; every accepted message arrives', {
  timeout: 240_000,
}, async () => {
  const sent = await sendBatch('before', 5);
  const victims: [string, () => number | undefined][] = [
    ['scheduler', () => relay.stack.services.scheduler.pid],
    ['sender', () => relay.stack.services.sender.pid],
    ['nats-server', () => relay.stack.nats?.process.pid],
  ];
  for (const [name, pidOf] of victims) {
    const pid = pidOf();
    assert.ok(pid, `${name} has a pid`);
    const seen = restarts.length;
    process.kill(pid, 'SIGKILL');
    // Accepted while the victim is down or coming back.
    sent.push(...(await sendBatch(`during-${name}`, 3)));
    const event = await waitFor(`${name} restarted`, () => restarted(name, seen), {
      timeoutMs: 90_000,
    });
    assert.notEqual(event.pid, pid);
    assert.equal(pidOf(), event.pid, 'the stack names the new process');
    const exit = restarts.slice(seen).find((e) => e.name === name && e.kind === 'exited');
    assert.equal(exit?.reason, 'killed by SIGKILL');
  }
  sent.push(...(await sendBatch('after', 5)));
  await waitFor(
    () => `every accepted message delivered; missing ${missing(sent).join(', ')}`,
    () => missing(sent).length === 0,
    { timeoutMs: 120_000 },
  );
});

function missing(markers: string[]): string[] {
  const got = new Set(
    relay.sink.messages.map((m) => /^Subject: test (\S+)/m.exec(m.raw.toString('latin1'))?.[1]),
  );
  return markers.filter((m) => !got.has(m));
}

/** Processes whose command line names the folder: nats-server and redis-server do. */
function processesNaming(folder: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(folder))
        found.push(Number(entry));
    } catch {
      // Gone while looking.
    }
  }
  return found;
}

test('local mode keeps stack.json current; SIGKILLed, it leaves no process behind', {
  timeout: 240_000,
}, async () => {
  const local = await spawnLocalMode();
  try {
    const first = await local.ready();
    process.kill(first.pids.scheduler, 'SIGKILL');
    const stack = await waitFor(
      () => `stack.json naming a new scheduler; output:\n${local.output.join('\n')}`,
      () => {
        const now = readStackFile(join(local.dataDir, 'stack.json'));
        const restarted =
          now.pids.scheduler !== first.pids.scheduler && processRunning(now.pids.scheduler);
        return restarted ? now : undefined;
      },
      { timeoutMs: 90_000 },
    );
    assert.ok(
      local.output.some((l) => l === 'scheduler killed by SIGKILL; restarting in 0.5 s'),
      local.output.join('\n'),
    );
    assert.ok(local.output.some((l) => l === `scheduler restarted (pid ${stack.pids.scheduler})`));
    const pids = Object.values(stack.pids).filter((p): p is number => p !== undefined);
    assert.ok(pids.length >= 6, JSON.stringify(stack.pids));
    assert.ok(processesNaming(local.dataDir).length >= 2, 'nats-server and redis-server run');
    process.kill(local.child.pid as number, 'SIGKILL');
    await waitFor(
      () =>
        `every child gone; alive: ${pids.filter(processRunning).join(', ')} ${processesNaming(local.dataDir).join(', ')}`,
      () => pids.every((p) => !processRunning(p)) && processesNaming(local.dataDir).length === 0,
      { timeoutMs: 60_000 },
    );
  } finally {
    await local.cleanup();
  }
});
