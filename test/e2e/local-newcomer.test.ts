/**
 * What a newcomer meets in local mode's first hour: mistakes answered in a sentence that
 * says what to do, and a data folder used with two pool files in turn still delivering.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliInvocation } from '@hikyaku/local';
import { freePort, waitFor } from '@hikyaku/testing';
import { createTransport } from 'nodemailer';
import { type CommandResult, runCommand } from '../harness/run-command.ts';
import { demoPoolText, spawnLocalMode } from './local-mode-process.ts';

function hikyaku(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return runCommand(process.execPath, [...cliInvocation(), ...args], { env });
}

test('a missing pool file is said in a sentence', async () => {
  const { code, stderr } = await hikyaku(['local', '--pool', '/nonexistent/pool.yaml']);
  assert.equal(code, 1);
  assert.match(stderr, /the pool file \/nonexistent\/pool\.yaml does not exist; give --pool/);
  assert.doesNotMatch(stderr, /ENOENT|\[HIKYAKU_/);
});

test('a taken SMTP port is named with the variable that moves it', async () => {
  const server = createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-local-'));
  try {
    const { code, stderr } = await hikyaku(['local', '--data-dir', dataDir], {
      HIKYAKU_SMTP_PORT: String(port),
    });
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`SMTP port 127\\.0\\.0\\.1:${port} is in use`));
    assert.match(stderr, /set HIKYAKU_SMTP_PORT to a free port/);
  } finally {
    server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a mistyped option prints the usage and exits 2', async () => {
  const { code, stderr } = await hikyaku(['local', '--pol', 'x.yaml']);
  assert.equal(code, 2);
  assert.match(stderr, /Unknown option '--pol'/);
  assert.match(stderr, /usage: hikyaku local/);
});

async function send(port: number, rcpt: string): Promise<string> {
  const client = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    const info = await client.sendMail({
      envelope: { from: 'app@hikyaku.test', to: [rcpt] },
      raw: `From: <app@hikyaku.test>\r\nTo: <${rcpt}>\r\nSubject: switch\r\n\r\nhello\r\n`,
    });
    return info.response;
  } finally {
    client.close();
  }
}

test('after another pool file ran in the same data folder, mail goes to the pool that runs', {
  timeout: 300_000,
}, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-switch-'));
  const deadPort = await freePort();
  // The second pool holds one message: held.test points at a port where nothing listens.
  const second = await spawnLocalMode({
    dataDir,
    poolText: await demoPoolText(
      'second',
      `    - domains: [held.test]\n      host: 127.0.0.1\n      port: ${deadPort}\n`,
    ),
  });
  try {
    await second.ready();
    assert.match(await send(second.smtpPort, 'someone@held.test'), /^250 /);
    assert.equal(await second.interrupt(), 0);
  } finally {
    await second.cleanup({ keepData: true });
  }
  const first = await spawnLocalMode({ dataDir, poolText: await demoPoolText('first') });
  try {
    await first.ready();
    assert.ok(
      first.output.some((l) =>
        /pool local_second from an earlier run .* is not running now; [1-9]\d* stored items of its mail wait/.test(
          l,
        ),
      ),
      first.output.join('\n'),
    );
    assert.match(await send(first.smtpPort, 'hello@example.test'), /^250 /);
    await waitFor(
      () => `the captured line; output:\n${first.output.join('\n')}`,
      () =>
        first.output.some((l) => l.startsWith('captured: ') && l.includes('<hello@example.test>')),
      { timeoutMs: 60_000 },
    );
    const stopping = first.output.length;
    assert.equal(await first.interrupt(), 0);
    const afterCtrlC = first.output.slice(stopping).join('\n');
    assert.doesNotMatch(afterCtrlC, /"level":(50|60)/, 'a normal stop logs no errors');
  } finally {
    await first.cleanup();
  }
});
