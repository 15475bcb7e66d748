import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  hashPassword,
  hashPasswordFiles,
  PasswordFileError,
  PasswordHashFormatError,
  parsePasswordHash,
  verifyPassword,
} from './credentials.ts';

// A low cost keeps the suite fast; the format and the checks do not depend on it.
const cost = 1024;

test('a hash is self-describing and verifies only the right password', async () => {
  const hash = await hashPassword('correct horse', { cost });
  assert.match(hash, /^\$scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  assert.equal(await verifyPassword('correct horse', hash), true);
  assert.equal(await verifyPassword('correct horsf', hash), false);
  assert.equal(await verifyPassword('', hash), false);
});

test('the default cost is N=16384 and the salt is random', async () => {
  const a = await hashPassword('same');
  const b = await hashPassword('same');
  assert.match(a, /^\$scrypt\$N=16384,r=8,p=1\$/);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword('same', b), true);
});

test('a given salt makes the hash reproducible', async () => {
  const salt = Buffer.alloc(16, 7);
  assert.equal(await hashPassword('pw', { salt, cost }), await hashPassword('pw', { salt, cost }));
});

test('unicode passwords are compared in NFC form', async () => {
  const hash = await hashPassword('caf\u00e9', { cost });
  assert.equal(await verifyPassword('cafe\u0301', hash), true);
});

test('malformed or hostile hashes are refused with a stable code', async () => {
  const good = await hashPassword('pw', { cost });
  const [, , , salt, digest] = good.split('$');
  const bad = [
    '',
    'plaintext',
    `$argon2id$v=19$m=65536,t=3,p=4$${salt}$${digest}`,
    `$scrypt$N=1000,r=8,p=1$${salt}$${digest}`,
    `$scrypt$N=4194304,r=8,p=1$${salt}$${digest}`,
    `$scrypt$N=1024,r=99,p=1$${salt}$${digest}`,
    `$scrypt$N=1024,r=8$${salt}$${digest}`,
    `$scrypt$N=1024,r=8,p=1$${salt}$***`,
    `$scrypt$N=1024,r=8,p=1$QQ$${digest}`,
  ];
  for (const text of bad) {
    assert.throws(() => parsePasswordHash(text), PasswordHashFormatError, text);
    await assert.rejects(verifyPassword('pw', text), { code: 'HIKYAKU_BAD_PASSWORD_HASH' });
  }
  await assert.rejects(hashPassword('pw', { cost: 1000 }), PasswordHashFormatError);
});

test('local mode hashes password files relative to the pool file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-cred-'));
  try {
    writeFileSync(join(dir, 'shop.pw'), 'hunter2\n');
    writeFileSync(join(dir, 'empty.pw'), '\n');
    const hashes = await hashPasswordFiles(
      [
        { username: 'shop', passwordFile: 'shop.pw' },
        { username: 'k8s-only', passwordSecretRef: { name: 's', key: 'k' } },
      ],
      dir,
      { cost },
    );
    assert.deepEqual(Object.keys(hashes), ['shop']);
    assert.equal(await verifyPassword('hunter2', hashes.shop as string), true);
    await assert.rejects(
      hashPasswordFiles([{ username: 'e', passwordFile: 'empty.pw' }], dir, { cost }),
      PasswordFileError,
    );
    await assert.rejects(
      hashPasswordFiles([{ username: 'm', passwordFile: 'missing.pw' }], dir, { cost }),
      /submitter "m"/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
