import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger, SUBJECTS } from '@hikyaku/core';
import { sleep, startTestNats, type TestNats } from '@hikyaku/testing';
import type { Msg } from '@nats-io/transport-node';
import { serveResultHandoffs } from './result-handoff.ts';

let infra: TestNats;
const log = createLogger({ level: 'silent', name: 'result-handoff-test' });

before(async () => {
  infra = await startTestNats('result-handoff-test', { streams: false, maxReconnectAttempts: 0 });
});

after(async () => {
  await infra?.close();
});

/**
 * Sends `n` hand-offs 20 ms apart without waiting for their answers, and returns, for each
 * in the order it was started, the number of the event-loop turn it was started in.
 */
async function handOff(gatherMs: number, n: number): Promise<number[]> {
  const { nc } = infra.nats;
  let turn = 0;
  let counting = false;
  const startedIn: number[] = [];
  const server = serveResultHandoffs({
    nc,
    concurrency: 16,
    waiting: 64,
    gatherMs,
    log,
    async handle(msg: Msg) {
      startedIn.push(turn);
      if (!counting) {
        counting = true;
        setImmediate(() => {
          turn++;
          counting = false;
        });
      }
      msg.respond('ok');
    },
  });
  try {
    await nc.flush();
    const inbox = nc.subscribe('handoff-test-answers.>');
    const answered = (async () => {
      let count = 0;
      for await (const _ of inbox) if (++count === n) break;
    })();
    for (let i = 0; i < n; i++) {
      nc.publish(SUBJECTS.resultHandoff('pool-a'), `result ${i}`, {
        reply: `handoff-test-answers.${i}`,
      });
      await nc.flush();
      await sleep(20);
    }
    await answered;
    return startedIn;
  } finally {
    await server.stop();
  }
}

test('hand-offs that arrive within the gathering window start in one turn', async () => {
  const turns = await handOff(1000, 5);
  assert.equal(turns.length, 5);
  assert.equal(new Set(turns).size, 1, `started in turns ${turns.join(', ')}`);
});

test('without a gathering window each hand-off starts as it arrives', async () => {
  const turns = await handOff(0, 5);
  assert.equal(turns.length, 5);
  assert.equal(new Set(turns).size, 5, `started in turns ${turns.join(', ')}`);
});

test('a stopping server starts and answers the hand-offs it gathered', {
  timeout: 20_000,
}, async () => {
  const { nc } = infra.nats;
  const handled: string[] = [];
  // A window far longer than the test: only the stop starts anything.
  const server = serveResultHandoffs({
    nc,
    concurrency: 16,
    waiting: 64,
    gatherMs: 600_000,
    log,
    async handle(msg: Msg) {
      handled.push(msg.string());
      msg.respond('ok');
    },
  });
  await nc.flush();
  const answer = nc.request(SUBJECTS.resultHandoff('pool-a'), 'gathered', { timeout: 10_000 });
  await nc.flush();
  await sleep(100);
  assert.deepEqual(handled, [], 'nothing starts before the window ends');
  await server.stop();
  assert.deepEqual(handled, ['gathered']);
  assert.equal((await answer).string(), 'ok');
});
