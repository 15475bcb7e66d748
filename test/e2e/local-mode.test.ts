/**
 * `npm start` as a newcomer runs it: the compiled build (`npm run build`, then
 * `node dist/bin/hikyaku.js local`) with the demo pool, then the
 * swaks line it prints, and the message lands in the capture sink as an .eml file. The same
 * running local mode is then measured by `npm run bench -- --attach`, as a user would.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { readStackFile } from '@hikyaku/local';
import { freePort, waitFor } from '@hikyaku/testing';
import { runBench as bench } from '../harness/run-command.ts';

const run = promisify(execFile);
const TSC = resolve('node_modules/typescript/bin/tsc');

interface LocalMode {
  child: ChildProcess;
  dataDir: string;
  output: string[];
  /** The swaks line local mode printed: printed once the stack is up. */
  swaksLine: string;
}

let started: Promise<LocalMode> | undefined;
let child: ChildProcess | undefined;
let dataDir: string | undefined;

/** Local mode started once, in its own data folder on free ports, for the tests below. */
function localMode(): Promise<LocalMode> {
  started ??= (async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hikyaku-local-'));
    const smtpPort = await freePort();
    const sinkPort = await freePort();
    // The capture sink listens where the pool routes example.test: move that route to a free port.
    const demo = readFileSync('examples/local-demo.yaml', 'utf8').replace(
      /2626/g,
      String(sinkPort),
    );
    const poolFile = join(dataDir, 'pool.yaml');
    writeFileSync(poolFile, demo);
    // The demo pool's return path key is read relative to the pool file.
    copyFileSync(
      'examples/local-demo-return-path.key',
      join(dataDir, 'local-demo-return-path.key'),
    );
    const output: string[] = [];
    // What `npm start` runs: the build first, then the compiled entrypoint.
    await run(process.execPath, [TSC, '-b', 'tsconfig.build.json']);
    child = spawn(
      process.execPath,
      [
        '--enable-source-maps',
        'dist/bin/hikyaku.js',
        'local',
        '--pool',
        poolFile,
        '--data-dir',
        dataDir,
      ],
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
    return { child, dataDir, output, swaksLine };
  })();
  return started;
}

/** SIGINT, as Ctrl-C in the terminal; the whole process group if it is still stopping after 30 s. */
async function stopLocalMode(): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child?.once('exit', resolve));
  child.kill('SIGINT');
  const timer = setTimeout(() => {
    if (child?.pid) process.kill(-child.pid, 'SIGKILL');
  }, 30_000);
  await exited;
  clearTimeout(timer);
}

after(async () => {
  await stopLocalMode();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('local mode relays the demo message into the capture sink', { timeout: 180_000 }, async () => {
  const { output, swaksLine } = await localMode();
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
    output.find((l) => l.startsWith('captured: ') && l.includes('to <hello@example.test>')),
  );
  const path = /^captured: (\S+\.eml)/.exec(captured)?.[1];
  assert.ok(path, captured);
  const eml = readFileSync(path, 'utf8');
  assert.match(eml, /Subject: hello from hikyaku/);
  assert.match(eml, /\(hikyaku\)/);
  assert.match(captured, /sent from 127\.0\.0\.[23]\)/);
});

test('the compiled command answers as node dist/bin/hikyaku.js and as npx hikyaku', {
  timeout: 180_000,
}, async () => {
  await localMode(); // built by then
  const direct = await run(process.execPath, ['dist/bin/hikyaku.js', '--help']);
  assert.match(direct.stdout, /^usage: hikyaku <command>/);
  // npx finds the project's own bin; its PATH puts node_modules/.bin (Node 24) first.
  const npx = await run('npx', ['--no-install', 'hikyaku', 'local', '--help']);
  assert.match(npx.stdout, /^usage: hikyaku local /);
});

test('local mode describes the running stack in its data folder', {
  timeout: 180_000,
}, async () => {
  const local = await localMode();
  const stack = readStackFile(join(local.dataDir, 'stack.json'));
  const [, host, port] = /--server (\S+):(\d+)/.exec(local.swaksLine) ?? [];
  assert.deepEqual(stack.smtp, { host, port: Number(port) });
  assert.equal(stack.pool, 'local_local-demo');
  assert.equal(stack.captureDomain, 'example.test');
  assert.equal(stack.pids.local, local.child.pid);
  assert.ok(stack.pids.natsServer && stack.pids.redisServer, 'local mode started both servers');
  for (const pid of Object.values(stack.pids)) process.kill(pid, 0);
});

test('the benchmark measures the running local stack with --attach', {
  timeout: 300_000,
}, async () => {
  const local = await localMode();
  const stackFile = join(local.dataDir, 'stack.json');
  const result = await bench([
    '--attach',
    stackFile,
    '--messages',
    '50',
    '--size',
    '2048',
    '--sessions',
    '4',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.length, 1, result.stdout);
  const report = JSON.parse(lines[0] as string);
  assert.equal(report.mode, 'attached');
  assert.equal(report.sent, 50);
  assert.equal(report.accepted, 50);
  assert.equal(report.delivered, 50);
  assert.equal(report.lost, 0);
  assert.equal(typeof report.peakRssMiB.ingress, 'number');
  assert.equal(typeof report.cpuSeconds.sender, 'number');
});

test('--attach without a running stack fails and says how to start one', async () => {
  const absent = join(tmpdir(), 'hikyaku-no-such-dir', 'stack.json');
  const named = await bench(['--attach', absent, '--messages', '1']);
  assert.notEqual(named.code, 0);
  assert.equal(named.stdout, '');
  assert.ok(
    named.stderr.includes(`no running hikyaku found at ${absent}: start one with npm start`),
    named.stderr,
  );
  // A bare --attach looks where `npm start` writes the file, relative to where it is run.
  const empty = mkdtempSync(join(tmpdir(), 'hikyaku-bench-cwd-'));
  try {
    const bare = await bench(['--attach', '--messages', '1'], empty);
    assert.notEqual(bare.code, 0);
    assert.match(
      bare.stderr,
      /no running hikyaku found at \.hikyaku\/stack\.json: start one with npm start/,
    );
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('stopping local mode removes its stack file', { timeout: 180_000 }, async () => {
  const local = await localMode();
  const stackFile = join(local.dataDir, 'stack.json');
  assert.ok(existsSync(stackFile));
  await stopLocalMode();
  assert.equal(local.child.exitCode, 0, local.output.join('\n'));
  assert.equal(existsSync(stackFile), false);
});
