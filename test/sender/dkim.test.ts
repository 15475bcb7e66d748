/**
 * DKIM end to end: the sender reads the pool's key files, signs what it delivers, and the
 * receiver's copy verifies with a DKIM verifier that fetches the public keys from a DNS
 * server this test runs. A key file that cannot be read holds its domain's mail back.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compilePool, openPoolBucket, publishPool, type RelayPoolSpec } from '@hikyaku/core';
import { dkimVerify } from '@hikyaku/sender';
import { startDnsServer, type TestDnsServer, waitFor } from '@hikyaku/testing';
import {
  IP1,
  IP2,
  SENDER_POD,
  type SenderFixture,
  startSenderFixture,
  testMessage,
} from './harness.ts';
import { type Receiver, startReceivers } from './receiver.ts';

interface KeyFiles {
  file: string;
  record: string;
}

let dir: string;
let dns: TestDnsServer;
let receiver: Receiver;
let fixture: SenderFixture;
let rsa: KeyFiles;
let ed: KeyFiles;
let spec: RelayPoolSpec;

function writeKey(name: string, type: 'rsa' | 'ed25519'): KeyFiles {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ed25519');
  const der = publicKey.export({ type: 'spki', format: 'der' });
  // RFC 8463 publishes the bare 32-byte Ed25519 key; RSA keys are published as SPKI.
  const p = (type === 'rsa' ? der : der.subarray(-32)).toString('base64');
  const file = join(dir, `${name}.pem`);
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { file, record: `v=DKIM1; k=${type}; p=${p}` };
}

async function verify(raw: Buffer): Promise<string[]> {
  const resolver = new Resolver();
  resolver.setServers([dns.address]);
  const { results } = await dkimVerify(raw, {
    resolver: (name, type) => resolver.resolve(name, type as 'TXT') as Promise<string[][]>,
  });
  return results.map((r) => `${r.signingDomain}/${r.selector}/${r.algo}:${r.status.result}`).sort();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-dkim-'));
  rsa = writeKey('rsa', 'rsa');
  ed = writeKey('ed', 'ed25519');
  dns = await startDnsServer({
    records: {
      'rsa2026._domainkey.shop.test': { txt: [rsa.record] },
      'ed2026._domainkey.shop.test': { txt: [ed.record] },
    },
  });
  [receiver] = (await startReceivers(['127.0.5.61'])) as [Receiver];
  spec = {
    ips: [IP1, IP2],
    routes: [{ domains: ['example.test'], host: `${receiver.host}:${receiver.port}` }],
    dkim: [
      { domain: 'shop.test', selector: 'rsa2026', privateKeyFile: rsa.file },
      { domain: 'shop.test', selector: 'ed2026', privateKeyFile: ed.file },
      { domain: 'lost.test', selector: 's1', privateKeyFile: join(dir, 'missing.pem') },
    ],
  };
  fixture = await startSenderFixture({ spec });
});

after(async () => {
  await fixture?.stop();
  await receiver?.close();
  await dns?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function deliverOne(from: string, subject: string): Promise<Buffer> {
  const raw = testMessage({ from, to: 'reader@example.test', subject });
  const job = await fixture.submit({ rcpts: ['reader@example.test'], from, raw });
  const result = await fixture.result(job);
  assert.equal(result.outcomes[0]?.status, 'delivered', JSON.stringify(result.outcomes));
  const received = receiver.messages.find((m) => m.raw.includes(`Subject: ${subject}\r\n`));
  assert.ok(received, 'the receiver has the message');
  return received.raw;
}

describe('DKIM', () => {
  it('signs with rsa-sha256 and ed25519-sha256, and an independent verifier passes both', async () => {
    const raw = await deliverOne('news@shop.test', 'signed-1');
    assert.match(raw.toString('latin1'), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed/);
    assert.deepEqual(await verify(raw), [
      'shop.test/ed2026/ed25519-sha256:pass',
      'shop.test/rsa2026/rsa-sha256:pass',
    ]);
  });

  it('sends mail of a domain without a key unsigned', async () => {
    const raw = await deliverOne('someone@elsewhere.test', 'unsigned-1');
    assert.ok(!raw.includes('DKIM-Signature:'));
  });

  it('holds back mail whose key cannot be read instead of sending it unsigned', async () => {
    const job = await fixture.submit({ rcpts: ['reader@example.test'], from: 'a@lost.test' });
    const [outcome] = (await fixture.result(job)).outcomes;
    assert.equal(outcome?.status, 'deferred');
    assert.equal(outcome?.errorCode, 'HIKYAKU_DKIM_UNAVAILABLE');
    assert.match(outcome?.text ?? '', /lost\.test/);
  });

  it('follows a key change in the pool', async () => {
    const next = writeKey('rsa-next', 'rsa');
    dns.setRecords({
      'rsa2026._domainkey.shop.test': { txt: [rsa.record] },
      'ed2026._domainkey.shop.test': { txt: [ed.record] },
      'rsa2027._domainkey.shop.test': { txt: [next.record] },
    });
    const changed = compilePool(
      {
        apiVersion: 'hikyaku.io/v1alpha1',
        kind: 'RelayPool',
        metadata: { name: 'senders', namespace: 'test', generation: 2 },
        spec: {
          ...spec,
          dkim: [{ domain: 'shop.test', selector: 'rsa2027', privateKeyFile: next.file }],
        },
      },
      { assignment: { [IP1.address]: SENDER_POD, [IP2.address]: SENDER_POD } },
    );
    await publishPool(await openPoolBucket(fixture.admin.js), changed);
    let n = 0;
    const raw = await waitFor(
      'a message signed with the new key',
      async () => {
        const message = await deliverOne('news@shop.test', `rotated-${n++}`);
        return message.includes('s=rsa2027;') ? message : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    assert.deepEqual(await verify(raw), ['shop.test/rsa2027/rsa-sha256:pass']);
  });
});
