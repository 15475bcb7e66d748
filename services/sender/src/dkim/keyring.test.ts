import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@hikyaku/core';
import { SigningUnavailableError } from '../errors.ts';
import { createDkimKeyring, DKIM_RELOAD_INTERVAL_MS } from './keyring.ts';

const log = createLogger({ name: 'test', level: 'silent' });

function message(from: string): Buffer {
  return Buffer.from(`From: <${from}>\r\nTo: <b@example.net>\r\nSubject: hi\r\n\r\nbody\r\n`);
}

function pem(): string {
  return generateKeyPairSync('ed25519')
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

describe('DKIM keyring', () => {
  let dir: string;
  let clock: { t: number; now(): number };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-keyring-'));
    clock = {
      t: 1_000_000,
      now() {
        return this.t;
      },
    };
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('signs with the key read from the file, for the From domain or the envelope domain', async () => {
    const file = join(dir, 'shop.pem');
    writeFileSync(file, pem());
    const keyring = createDkimKeyring({ log, clock });
    await keyring.load([{ domain: 'shop.example', selector: 's1', keyFile: file }]);
    const signed = await keyring.sign(message('a@shop.example'), '');
    assert.match(signed.toString(), /^DKIM-Signature: .*d=shop\.example;.*s=s1;/s);
    const bounce = await keyring.sign(message('a@client.example'), 'bounce@shop.example');
    assert.match(bounce.toString(), /^DKIM-Signature:/);
    const foreign = message('a@client.example');
    assert.equal(await keyring.sign(foreign, 'x@client.example'), foreign);
  });

  it('passes every message through unchanged when the pool has no key', async () => {
    const keyring = createDkimKeyring({ log, clock });
    await keyring.load([]);
    const plain = message('a@shop.example');
    assert.equal(await keyring.sign(plain, 'a@shop.example'), plain);
    const headersOnly = Buffer.from('From: <a@shop.example>');
    assert.equal(await keyring.sign(headersOnly, ''), headersOnly);
  });

  it('holds back the domain of an unreadable key, and reads it again later', async () => {
    const file = join(dir, 'late.pem');
    const good = join(dir, 'good.pem');
    writeFileSync(good, pem());
    const keyring = createDkimKeyring({ log, clock });
    await keyring.load([
      { domain: 'late.example', selector: 's1', keyFile: file },
      { domain: 'good.example', selector: 's1', keyFile: good },
    ]);
    assert.deepEqual(keyring.broken(), ['late.example']);
    await assert.rejects(keyring.sign(message('a@late.example'), ''), SigningUnavailableError);
    assert.match(
      (await keyring.sign(message('a@good.example'), '')).toString(),
      /^DKIM-Signature:/,
    );

    writeFileSync(file, pem());
    await assert.rejects(
      keyring.sign(message('a@late.example'), ''),
      SigningUnavailableError,
      'not read again before the interval',
    );
    clock.t += DKIM_RELOAD_INTERVAL_MS;
    assert.match((await keyring.sign(message('a@late.example'), '')).toString(), /d=late\.example/);
    assert.deepEqual(keyring.broken(), []);
  });

  it('treats a file that is not a usable key like a missing one', async () => {
    const file = join(dir, 'garbage.pem');
    writeFileSync(file, 'not a key');
    const keyring = createDkimKeyring({ log, clock });
    await keyring.load([{ domain: 'bad.example', selector: 's1', keyFile: file }]);
    await assert.rejects(keyring.sign(message('a@bad.example'), ''), (err: unknown) => {
      assert.ok(err instanceof SigningUnavailableError);
      assert.equal(err.code, 'HIKYAKU_DKIM_UNAVAILABLE');
      return true;
    });
  });

  it('keeps signing for a domain when one of its keys is good', async () => {
    const good = join(dir, 'rot-good.pem');
    writeFileSync(good, pem());
    const keyring = createDkimKeyring({ log, clock });
    await keyring.load([
      { domain: 'rot.example', selector: 'old', keyFile: good },
      { domain: 'rot.example', selector: 'new', keyFile: join(dir, 'not-yet.pem') },
    ]);
    assert.deepEqual(keyring.broken(), []);
    assert.match((await keyring.sign(message('a@rot.example'), '')).toString(), /s=old;/);
  });
});
