/**
 * Timeouts: a receiver that stops in the middle of a message makes the attempt time out
 * under the data timeout (the command timeout is far longer here) and defer, with the host
 * named; the job's result is published, and the retry goes out on a fresh connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@hikyaku/testing';
import { type SenderFixture, startSenderFixture, testMessage } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

let receiver: Receiver;
let fixture: SenderFixture;

before(async () => {
  [receiver] = (await startReceivers(['127.0.5.51'])) as [Receiver];
  fixture = await startSenderFixture({
    spec: { routes: [{ domains: ['slow.test'], host: `${receiver.host}:${receiver.port}` }] },
    env: {
      HIKYAKU_COMMAND_TIMEOUT_MS: '120000',
      HIKYAKU_DATA_TIMEOUT_MS: '1000',
    },
  });
});

after(async () => {
  await fixture?.stop();
  await receiver?.close();
});

describe('timeouts', () => {
  it('defers when the receiver stalls mid-DATA, and the retry is delivered', async () => {
    receiver.setBehaviour({ stallData: true });
    // Larger than the socket buffers, so the receiver stops reading in the middle of it.
    const raw = testMessage({ from: 'news@shop.test', to: 'a@slow.test', bodyBytes: 8 << 20 });
    const job = await fixture.submit({ rcpts: ['a@slow.test', 'b@slow.test'], raw, id: 'stall-1' });
    const result = await fixture.result(job);
    assert.equal(receiver.stalled, 1, 'the receiver stalled in DATA');
    for (const outcome of result.outcomes) {
      assert.equal(outcome.status, 'deferred');
      assert.equal(outcome.code, 451);
      assert.equal(outcome.enhanced, '4.4.2');
      assert.equal(outcome.errorCode, 'ETIMEDOUT');
      assert.equal(outcome.remoteHost, receiver.host);
      assert.match(outcome.text, /timed out while sending the message/);
    }
    assert.deepEqual(
      result.outcomes.map((o) => o.rcpt),
      ['a@slow.test', 'b@slow.test'],
    );

    // The scheduler would retry the deferral: the retry is delivered on a new connection.
    receiver.setBehaviour({});
    const connections = receiver.stats.connections;
    const retry = await fixture.submit({
      rcpts: ['a@slow.test', 'b@slow.test'],
      raw,
      id: 'stall-1',
      attempt: 1,
    });
    const retried = await fixture.result(retry);
    assert.deepEqual(
      retried.outcomes.map((o) => o.status),
      ['delivered', 'delivered'],
    );
    assert.equal(receiver.stats.connections, connections + 1);
    await waitFor('the message at the receiver', () => receiver.messages.length === 1);
    assert.ok(receiver.messages[0]?.raw.equals(raw), 'delivered intact');
  });
});
