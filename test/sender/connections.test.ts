/**
 * Connections and transactions: reuse within a rate policy's messages-per-connection and
 * concurrent-connections limits (counted by the receiver), several recipients per
 * transaction within the policy's limit, and one outcome per recipient when a receiver
 * takes some recipients of a transaction and refuses others.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IP1, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

let bulk: Receiver;
let picky: Receiver;
let split: Receiver;
let dropping: Receiver;
let fixture: SenderFixture;

before(async () => {
  [bulk, picky, split, dropping] = (await startReceivers([
    '127.0.5.41',
    '127.0.5.42',
    '127.0.5.43',
    '127.0.5.44',
  ])) as [Receiver, Receiver, Receiver, Receiver];
  dropping.setBehaviour({ dropReused: true });
  picky.setBehaviour({
    rcpt: (rcpt) => {
      if (rcpt.startsWith('unknown')) return { code: 550, message: '5.1.1 No such user here' };
      if (rcpt.startsWith('full')) return { code: 452, message: '4.2.2 Mailbox full' };
      if (rcpt.startsWith('slow')) {
        return { code: 421, message: '4.7.0 Try again later, closing connection' };
      }
      return undefined;
    },
  });
  const route = (domain: string, r: Receiver) => ({
    domains: [domain],
    host: `${r.host}:${r.port}`,
  });
  fixture = await startSenderFixture({
    spec: {
      routes: [
        route('bulk.test', bulk),
        route('picky.test', picky),
        route('split.test', split),
        route('dropping.test', dropping),
      ],
      ratePolicies: [
        {
          name: 'bulk',
          match: { domains: ['bulk.test'] },
          perIp: { connections: 2, messagesPerConnection: 10 },
        },
        { name: 'split', match: { domains: ['split.test'] }, perIp: { recipientsPerMessage: 2 } },
      ],
    },
  });
});

after(async () => {
  await fixture?.stop();
  await Promise.all([bulk, picky, split, dropping].map((r) => r?.close()));
});

describe('connection reuse within the policy limits', () => {
  it('sends 100 messages over at most 2 connections at once, at most 10 messages each', async () => {
    const jobs = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        fixture.submit({ rcpts: [`user${i}@bulk.test`], policy: 'bulk' }),
      ),
    );
    const results = await Promise.all(jobs.map((job) => fixture.result(job, 60_000)));
    assert.ok(results.every((r) => r.outcomes[0]?.status === 'delivered'));
    assert.equal(bulk.messages.length, 100);
    assert.ok(bulk.stats.maxOpen <= 2, `at most 2 at once, saw ${bulk.stats.maxOpen}`);
    assert.ok(
      bulk.stats.connections >= 10,
      `at least 10 connections, saw ${bulk.stats.connections}`,
    );
    const perConnection = new Map<string, number>();
    for (const m of bulk.messages) {
      perConnection.set(m.connectionId, (perConnection.get(m.connectionId) ?? 0) + 1);
    }
    assert.ok(Math.max(...perConnection.values()) <= 10, 'no connection carried more than 10');
    assert.ok(bulk.stats.peers.every((peer) => peer === IP1.address));
  });

  it('sends again on a fresh connection when a reused one turns out to be dropped', async () => {
    const first = await fixture.submit({ rcpts: ['one@dropping.test'] });
    assert.equal((await fixture.result(first)).outcomes[0]?.status, 'delivered');
    const second = await fixture.submit({ rcpts: ['two@dropping.test'] });
    const [outcome] = (await fixture.result(second)).outcomes;
    assert.equal(outcome?.status, 'delivered', JSON.stringify(outcome));
    assert.equal(dropping.stats.connections, 2);
    assert.deepEqual(
      dropping.messages.map((m) => m.rcpts[0]),
      ['one@dropping.test', 'two@dropping.test'],
    );
  });
});

describe('recipients and their outcomes', () => {
  it('reports each recipient of a transaction the receiver partly refused', async () => {
    const rcpts = ['ok1@picky.test', 'unknown@picky.test', 'full@picky.test', 'ok2@picky.test'];
    const job = await fixture.submit({ rcpts });
    const result = await fixture.result(job);
    const [message] = picky.messages;
    assert.deepEqual(message?.rcpts, ['ok1@picky.test', 'ok2@picky.test'], 'one transaction');
    assert.deepEqual(
      result.outcomes.map((o) => [o.rcpt, o.status, o.code, o.enhanced ?? null]),
      [
        ['ok1@picky.test', 'delivered', 250, '2.0.0'],
        ['unknown@picky.test', 'failed', 550, '5.1.1'],
        ['full@picky.test', 'deferred', 452, '4.2.2'],
        ['ok2@picky.test', 'delivered', 250, '2.0.0'],
      ],
    );
    const delivered = result.outcomes.filter((o) => o.status === 'delivered');
    assert.ok(delivered.every((o) => o.remoteQueueId === message?.queueId && o.remoteHost));
    assert.match(result.outcomes[1]?.text ?? '', /No such user here/);
  });

  it('reports every refused recipient, and the connection carries the next message', async () => {
    const connections = picky.stats.connections;
    const refused = await fixture.submit({ rcpts: ['unknown2@picky.test', 'full2@picky.test'] });
    assert.deepEqual(
      (await fixture.result(refused)).outcomes.map((o) => [o.rcpt, o.status, o.code]),
      [
        ['unknown2@picky.test', 'failed', 550],
        ['full2@picky.test', 'deferred', 452],
      ],
    );
    const next = await fixture.submit({ rcpts: ['ok3@picky.test'] });
    assert.equal((await fixture.result(next)).outcomes[0]?.status, 'delivered');
    assert.equal(picky.stats.connections, connections, 'RSET kept the connection usable');
  });

  it('reports a 421 that closes the connection with its own reply', async () => {
    const job = await fixture.submit({ rcpts: ['ok4@picky.test', 'slow@picky.test'] });
    const result = await fixture.result(job);
    assert.deepEqual(
      result.outcomes.map((o) => [o.rcpt, o.status, o.code, o.enhanced]),
      [
        ['ok4@picky.test', 'deferred', 421, '4.7.0'],
        ['slow@picky.test', 'deferred', 421, '4.7.0'],
      ],
    );
    assert.match(result.outcomes[1]?.text ?? '', /Try again later/);
    const after = await fixture.submit({ rcpts: ['ok5@picky.test'] });
    assert.equal((await fixture.result(after)).outcomes[0]?.status, 'delivered');
  });

  it('splits recipients into transactions of at most recipientsPerMessage', async () => {
    const rcpts = ['a', 'b', 'c', 'd', 'e'].map((l) => `${l}@split.test`);
    const job = await fixture.submit({ rcpts, policy: 'split' });
    const result = await fixture.result(job);
    assert.deepEqual(
      result.outcomes.map((o) => [o.rcpt, o.status]),
      rcpts.map((r) => [r, 'delivered']),
    );
    assert.deepEqual(
      split.messages.map((m) => m.rcpts),
      [rcpts.slice(0, 2), rcpts.slice(2, 4), rcpts.slice(4)],
    );
  });
});
