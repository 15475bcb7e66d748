/**
 * TLS on 465 (implicit) and 587 (STARTTLS) with a certificate made for the test, and a
 * certificate change picked up without a restart, the way Kubernetes updates a mounted
 * Secret: the files are symlinks into a `..data` folder that is swapped in one rename.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { METRICS } from '@hikyaku/core';
import { waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { makeCertificate, type TestCertificate } from './certs.ts';
import {
  type Infra,
  type IngressUnderTest,
  startInfra,
  startIngressUnderTest,
  testPool,
} from './fixture.ts';
import { message, SmtpClient } from './smtp-client.ts';

const run = promisify(execFile);
const PASSWORD = 'tls-test-password';

let infra: Infra;
let relay: IngressUnderTest;
let secretDir: string;
let first: TestCertificate;

/** Writes a pair the way the kubelet does: a new timestamped folder, then swap ..data. */
function publishSecret(pair: { cert: Buffer; key: Buffer }, version: string): void {
  const folder = join(secretDir, `..${version}`);
  mkdirSync(folder);
  writeFileSync(join(folder, 'tls.crt'), pair.cert);
  writeFileSync(join(folder, 'tls.key'), pair.key);
  symlinkSync(`..${version}`, join(secretDir, '..data_tmp'));
  renameSync(join(secretDir, '..data_tmp'), join(secretDir, '..data'));
}

async function presented(port: number): Promise<string | undefined> {
  const { client } = await SmtpClient.open({ port, tls: true });
  const fingerprint = client.tlsSocket?.getPeerX509Certificate()?.fingerprint256;
  client.close();
  return fingerprint;
}

before(async () => {
  infra = await startInfra();
  secretDir = join(infra.dir, 'secret');
  mkdirSync(secretDir);
  first = makeCertificate(infra.dir, 'first');
  publishSecret(first, 'v1');
  symlinkSync('..data/tls.crt', join(secretDir, 'tls.crt'));
  symlinkSync('..data/tls.key', join(secretDir, 'tls.key'));
  await infra.publish(
    await testPool('tls', { submitters: [{ username: 'app' }] }, { app: PASSWORD }),
  );
  relay = await startIngressUnderTest(infra, {
    pools: ['test_tls'],
    env: {
      HIKYAKU_TLS_CERT_FILE: join(secretDir, 'tls.crt'),
      HIKYAKU_TLS_KEY_FILE: join(secretDir, 'tls.key'),
      // Long enough that only the folder watch can explain a prompt reload.
      HIKYAKU_TLS_RELOAD_INTERVAL_MS: '600000',
    },
  });
});

after(async () => {
  await relay?.stop();
  await infra?.stop();
});

test('465 with implicit TLS and 587 with STARTTLS complete, with nodemailer and swaks', async () => {
  const implicit = await createTransport({
    host: '127.0.0.1',
    port: relay.ports.smtps,
    secure: true,
    tls: { ca: [first.cert], servername: 'localhost' },
    auth: { user: 'app', pass: PASSWORD },
  }).sendMail({
    envelope: { from: 'app@hikyaku.test', to: ['one@example.test'] },
    raw: message('tls-465'),
  });
  assert.match(implicit.response, /^250 2\.0\.0 Ok: queued as \S+/);

  const starttls = await run('swaks', [
    '--server',
    `127.0.0.1:${relay.ports.submission}`,
    '--tls',
    '--auth',
    'PLAIN',
    '--auth-user',
    'app',
    '--auth-password',
    PASSWORD,
    '--from',
    'app@hikyaku.test',
    '--to',
    'two@example.test',
  ]);
  assert.match(starttls.stdout, /250 2\.0\.0 Ok: queued as \S+/);

  // The trace header tells how the message came in; the client's bytes follow it.
  const queued = (await infra.envelopes()).find((e) => e.rcpts[0] === 'one@example.test');
  assert.ok(queued);
  const body = Buffer.from(await infra.bodies.get(queued.id, queued.body)).toString('latin1');
  assert.match(
    body,
    /^Received: from [^\r]+\r\n\tby relay\.hikyaku\.test \(hikyaku\) with ESMTPSA \(using TLSv1\.[23] with cipher \S+\)\r\n/,
  );
  assert.match(body, new RegExp(`\tid ${queued.id}\r\n\tfor <one@example\\.test>;`));
  assert.ok(body.endsWith(`${message('tls-465')}\r\n`));
  assert.ok((await relay.metric(METRICS.ingressTlsSessions, { listener: 'submission' })) >= 1);
});

test('a new certificate in the Secret is used for new sessions without a restart', async () => {
  assert.equal(await presented(relay.ports.smtps as number), first.fingerprint);
  // A session opened before the change keeps working across it.
  const { client: before } = await SmtpClient.open({
    port: relay.ports.smtps as number,
    tls: true,
  });
  const second = makeCertificate(infra.dir, 'second');
  publishSecret(second, 'v2');
  await waitFor(
    'the second certificate on 465',
    async () => (await presented(relay.ports.smtps as number)) === second.fingerprint,
    { timeoutMs: 15_000 },
  );
  const upgraded = await SmtpClient.open({ port: relay.ports.submission as number });
  await upgraded.client.ehlo();
  await upgraded.client.startTls(second.cert);
  assert.equal(
    upgraded.client.tlsSocket?.getPeerX509Certificate()?.fingerprint256,
    second.fingerprint,
  );
  upgraded.client.close();
  assert.equal((await before.ehlo()).code, 250);
  before.close();
  assert.ok((await relay.metric(METRICS.ingressCertificateReloads, { result: 'success' })) >= 1);

  // A key that does not match the certificate is not taken; the working pair stays.
  const third = makeCertificate(infra.dir, 'third');
  publishSecret({ cert: third.cert, key: first.key }, 'v3');
  await waitFor(
    'the refused reload',
    async () => (await relay.metric(METRICS.ingressCertificateReloads, { result: 'failure' })) >= 1,
    { timeoutMs: 15_000 },
  );
  assert.equal(await presented(relay.ports.smtps as number), second.fingerprint);
});
