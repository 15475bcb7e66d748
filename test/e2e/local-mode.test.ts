/**
 * `npm start` as a newcomer runs it: the local-mode entrypoint with the demo pool, then the
 * swaks line it prints, and the message lands in the capture sink as an .eml file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort, waitFor } from '../../services/local/src/ports.ts';

const run = promisify(execFile);
let child: ChildProcess | undefined;
let dataDir: string | undefined;

after(async () => {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGINT');
    const timer = setTimeout(() => {
      // Still stopping after 30 s: take the whole process group down (servers included).
      if (child?.pid) process.kill(-child.pid, 'SIGKILL');
    }, 30_000);
    await exited;
    clearTimeout(timer);
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('local mode relays the demo message into the capture sink', { timeout: 180_000 }, async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-local-'));
  const smtpPort = await freePort();
  const sinkPort = await freePort();
  // The capture sink listens where the pool routes example.test: move that route to a free port.
  const demo = readFileSync('examples/local-demo.yaml', 'utf8').replace(/2626/g, String(sinkPort));
  const poolFile = join(dataDir, 'pool.yaml');
  await import('node:fs/promises').then((fs) => fs.writeFile(poolFile, demo));
  const output: string[] = [];
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bin/hikyaku.ts', 'local', '--pool', poolFile, '--data-dir', dataDir],
    {
      env: {
        ...process.env,
        HIKYAKU_SMTP_PORT: String(smtpPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so cleanup can reach nats-server and the services too.
      detached: true,
    },
  );
  child.stdout?.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
  child.stderr?.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
  const swaksLine = await waitFor(
    () => `the swaks line; output so far:\n${output.join('\n')}`,
    () => output.find((l) => l.trim().startsWith('swaks ')),
    {
      timeoutMs: 90_000,
    },
  );
  const args = swaksLine
    .trim()
    .split(/\s+(?=--)/)
    .slice(1)
    .flatMap((part) => {
      const [flag, ...value] = part.split(' ');
      return [flag as string, value.join(' ').replace(/^"|"$/g, '')];
    });
  const { stdout } = await run('swaks', args);
  assert.match(stdout, /<- {2}250 2\.0\.0 Ok: queued as \S+/);
  const captured = await waitFor('the captured line', () =>
    output.find((l) => l.startsWith('captured: ')),
  );
  const path = /^captured: (\S+\.eml)/.exec(captured)?.[1];
  assert.ok(path, captured);
  const eml = readFileSync(path, 'utf8');
  assert.match(eml, /Subject: hello from hikyaku/);
  assert.match(eml, /\(hikyaku\)/);
  assert.match(captured, /sent from 127\.0\.0\.[23]\)/);
});
