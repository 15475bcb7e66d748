/**
 * Source address and identity: each job leaves from its assigned IP and EHLOs with that IP's
 * hostname; an assigned IP that is not on the pod is refused loudly, never replaced.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSourceReports } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { IP1, IP2, metricValue, type SenderFixture, startSenderFixture } from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

/** TEST-NET-1 (RFC 5737): certainly not an address of this machine. */
const ABSENT = { address: '192.0.2.1', hostname: 'mta-absent.hikyaku.test' };

let receiver: Receiver;
let fixture: SenderFixture;

before(async () => {
  [receiver] = (await startReceivers(['127.0.5.21'])) as [Receiver];
  fixture = await startSenderFixture({
    spec: {
      ips: [IP1, IP2, ABSENT],
      routes: [{ domains: ['identity.test'], host: `${receiver.host}:${receiver.port}` }],
    },
  });
});

after(async () => {
  await fixture?.stop();
  await receiver?.close();
});

describe('source address and identity', () => {
  it('sends from the assigned IP and EHLOs with its hostname, for each of two IPs', async () => {
    const jobs = await Promise.all(
      [IP1, IP2, IP1, IP2].map((ip, i) =>
        fixture.submit({ rcpts: [`user${i}@identity.test`], ip: ip.address }),
      ),
    );
    for (const job of jobs) {
      assert.equal((await fixture.result(job)).outcomes[0]?.status, 'delivered');
    }
    const seen = receiver.messages.map((m) => [m.rcpts[0], m.peerAddress, m.ehlo]);
    assert.deepEqual(
      seen.sort(),
      [
        ['user0@identity.test', IP1.address, IP1.hostname],
        ['user1@identity.test', IP2.address, IP2.hostname],
        ['user2@identity.test', IP1.address, IP1.hostname],
        ['user3@identity.test', IP2.address, IP2.hostname],
      ].sort(),
    );
  });

  it('defers jobs of an IP that is not on the pod, sends nothing, and reports it', async () => {
    const before = receiver.stats.connections;
    const job = await fixture.submit({
      rcpts: ['a@identity.test', 'b@identity.test'],
      ip: ABSENT.address,
    });
    const result = await fixture.result(job);
    for (const outcome of result.outcomes) {
      assert.equal(outcome.status, 'deferred');
      assert.equal(outcome.code, 451);
      assert.equal(outcome.errorCode, 'HIKYAKU_SOURCE_IP_ABSENT');
      assert.match(outcome.text, /192\.0\.2\.1 is not present on pod test-sender-0/);
    }
    assert.equal(receiver.stats.connections, before, 'no connection from any other address');
    const metrics = await fixture.metrics();
    assert.equal(
      metricValue(metrics, 'hikyaku_sender_source_ip_absent', { ip: ABSENT.address }),
      1,
    );
    assert.equal(metricValue(metrics, 'hikyaku_sender_source_ip_absent', { ip: IP1.address }), 0);
    // The operator shows it on the pool's status from this report.
    const reports = await openSourceReports(fixture.admin.js);
    const absent = await waitFor('the absent-address report', async () => {
      const list = await reports.listAbsent(fixture.pool.key);
      return list.length > 0 ? list : undefined;
    });
    assert.deepEqual(
      absent.map((r) => [r.address, r.pod]),
      [[ABSENT.address, 'test-sender-0']],
    );
  });
});
