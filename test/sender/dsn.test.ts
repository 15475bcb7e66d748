/**
 * DSN pass-through (RFC 3461): a next hop that advertises DSN gets RET and ENVID on MAIL
 * FROM and each recipient's own NOTIFY and ORCPT on its RCPT TO, all in one transaction,
 * and the result says so (remoteDsn); a next hop that does not advertise DSN gets none of
 * them, and the result leaves remoteDsn out so the scheduler reports "relayed" itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Delivery } from '@hikyaku/core';
import { type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

let withDsn: Receiver;
let without: Receiver;
let fixture: SenderFixture;

const dsn: Delivery['dsn'] = { ret: 'HDRS', envid: 'order 42+x=y' };

before(async () => {
  [withDsn] = (await startReceivers(['127.0.5.91'], { dsn: true })) as [Receiver];
  [without] = (await startReceivers(['127.0.5.92'])) as [Receiver];
  fixture = await startSenderFixture({
    spec: {
      routes: [
        { domains: ['dsn.test'], host: `127.0.5.91:${withDsn.port}` },
        { domains: ['plain.test'], host: `127.0.5.92:${without.port}` },
      ],
    },
  });
});

after(async () => {
  await fixture?.stop();
  await withDsn?.close();
  await without?.close();
});

describe('DSN parameters', () => {
  it('go to a next hop that offers DSN, each recipient its own, in one transaction', async () => {
    const job = await fixture.submit({
      rcpts: ['a@dsn.test', 'b@dsn.test', 'c@dsn.test'],
      dsn,
      rcptDsn: [
        // "+2B" reads as xtext: it arrives as it was only if it went out encoded again.
        { rcpt: 'a@dsn.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;A+2Btag@Orig.test' },
        { rcpt: 'b@dsn.test', notify: ['NEVER'] },
      ],
    });
    const result = await fixture.result(job);
    assert.deepEqual(
      result.outcomes.map((o) => [o.rcpt, o.status, o.remoteDsn]),
      [
        ['a@dsn.test', 'delivered', true],
        ['b@dsn.test', 'delivered', true],
        ['c@dsn.test', 'delivered', true],
      ],
    );
    assert.equal(withDsn.messages.length, 1, 'one transaction');
    assert.deepEqual(withDsn.messages[0]?.dsn, {
      ret: 'HDRS',
      envid: 'order 42+x=y',
      rcpts: [
        {
          address: 'a@dsn.test',
          notify: ['SUCCESS', 'FAILURE'],
          orcpt: 'rfc822;A+2Btag@Orig.test',
        },
        { address: 'b@dsn.test', notify: ['NEVER'] },
        { address: 'c@dsn.test' },
      ],
    });
  });

  it('are not sent to a next hop without DSN, and the result does not claim it', async () => {
    const job = await fixture.submit({
      rcpts: ['a@plain.test', 'b@plain.test'],
      dsn,
      rcptDsn: [{ rcpt: 'a@plain.test', notify: ['SUCCESS'], orcpt: 'rfc822;a@orig.test' }],
    });
    const result = await fixture.result(job);
    assert.deepEqual(
      result.outcomes.map((o) => [o.rcpt, o.status, o.remoteDsn]),
      [
        ['a@plain.test', 'delivered', undefined],
        ['b@plain.test', 'delivered', undefined],
      ],
    );
    const received = without.messages[0];
    assert.ok(received);
    assert.equal(received.dsn, undefined);
    const names = [received.args.mail, ...received.args.rcpts].flatMap((a) => Object.keys(a));
    for (const name of ['RET', 'ENVID', 'NOTIFY', 'ORCPT']) {
      assert.ok(!names.includes(name), `${name} was sent`);
    }
  });
});
