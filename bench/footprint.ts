/**
 * Footprint of the compiled build beside the TypeScript sources run through tsx, measured in
 * one run on the same machine: the command's start (`--help`), each component's load time
 * (until it reads its configuration), and the resident memory of every local-mode service
 * idle and under `npm run bench -- --attach`. Prints one JSON line per mode.
 *
 *   npm run build && npm run bench:footprint -- --messages 10000
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { readStackFile } from '@hikyaku/local';
import { freePort, sleep } from '@hikyaku/testing';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    'idle-s': { type: 'string', default: '15' },
    repeat: { type: 'string', default: '5' },
  },
  strict: true,
});
const MESSAGES = Number(values.messages);
const IDLE_MS = Number(values['idle-s']) * 1000;
const REPEAT = Number(values.repeat);

const TSX = import.meta.resolve('tsx');
const MODES = {
  compiled: ['--enable-source-maps', resolve('dist/bin/hikyaku.js')],
  tsx: ['--import', TSX, '--conditions=hikyaku-source', resolve('bin/hikyaku.ts')],
} as const;
type Mode = keyof typeof MODES;

const round1 = (n: number): number => Math.round(n * 10) / 10;
const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Wall time and peak RSS of one run of the command, through GNU time. */
async function timed(mode: Mode, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const started = performance.now();
  const { stderr } = await run(
    '/usr/bin/time',
    ['-f', 'maxrss=%M', process.execPath, ...MODES[mode], ...args],
    { env },
  ).catch((err: { stderr: string }) => ({ stderr: err.stderr }));
  const ms = performance.now() - started;
  const kb = Number(/maxrss=(\d+)/.exec(stderr)?.[1]);
  return { ms, rssMiB: kb / 1024 };
}

async function startup(mode: Mode) {
  const figures: Record<string, { ms: number; rssMiB: number }> = {};
  const cases: Record<string, { args: string[]; env?: NodeJS.ProcessEnv }> = {
    help: { args: ['--help'] },
    // Each component loads every module it runs, then stops at a configuration it refuses.
    ...Object.fromEntries(
      ['ingress', 'scheduler', 'sender', 'operator'].map((c) => [
        c,
        { args: [c], env: { PATH: process.env.PATH, HIKYAKU_HTTP_PORT: 'x' } },
      ]),
    ),
  };
  for (const [name, c] of Object.entries(cases)) {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) runs.push(await timed(mode, c.args, c.env));
    figures[name] = {
      ms: Math.round(median(runs.map((r) => r.ms))),
      rssMiB: round1(median(runs.map((r) => r.rssMiB))),
    };
  }
  return figures;
}

function rssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return round1(kb / 1024);
  } catch {
    return null;
  }
}

/** Local mode in this mode on free ports; resolves once its stack file is written. */
async function localMode(mode: Mode, dataDir: string) {
  const sinkPort = await freePort();
  const pool = join(dataDir, 'pool.yaml');
  // The demo pool with the pacing lifted (as the benchmark's own stack has it), so the run
  // measures the services rather than the default rate policy.
  writeFileSync(
    pool,
    `${readFileSync('examples/local-demo.yaml', 'utf8')
      .replace(/2626/g, String(sinkPort))
      .replace(
        /signingKeyFile: local-demo-return-path\.key/,
        `signingKeyFile: ${resolve('examples/local-demo-return-path.key')}`,
      )}` +
      '  ratePolicies:\n    - name: default\n' +
      '      perIp: { messagesPerMinute: 1000000, connections: 20, messagesPerConnection: 1000 }\n',
  );
  const started = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [...MODES[mode], 'local', '--pool', pool, '--data-dir', dataDir],
    {
      env: { ...process.env, HIKYAKU_SMTP_PORT: String(await freePort()) },
      stdio: 'ignore',
      detached: true,
    },
  );
  const stackFile = join(dataDir, 'stack.json');
  while (!existsSync(stackFile)) {
    if (child.exitCode !== null) throw new Error(`local mode (${mode}) exited ${child.exitCode}`);
    if (performance.now() - started > 180_000) throw new Error(`local mode (${mode}) not ready`);
    await sleep(100);
  }
  return { child, stackFile, readyMs: Math.round(performance.now() - started) };
}

async function underLoad(mode: Mode) {
  const dataDir = mkdtempSync(join(tmpdir(), `hikyaku-footprint-${mode}-`));
  const { child, stackFile, readyMs } = await localMode(mode, dataDir);
  try {
    const stack = readStackFile(stackFile);
    await sleep(IDLE_MS);
    const services = ['ingress', 'scheduler', 'sender'] as const;
    const idle = Object.fromEntries(services.map((s) => [s, rssMiB(stack.pids[s])]));
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        TSX,
        '--conditions=hikyaku-source',
        'bench/relay-bench.ts',
        '--attach',
        stackFile,
        '--messages',
        String(MESSAGES),
      ],
      { maxBuffer: 1 << 20 },
    );
    const bench = JSON.parse(stdout) as {
      deliveredPerSecond: number;
      lost: number;
      peakRssMiB: Record<string, number | null>;
    };
    const peak = Object.fromEntries(services.map((s) => [s, bench.peakRssMiB[s] ?? null]));
    return {
      readyMs,
      idleRssMiB: idle,
      peakRssMiB: peak,
      deliveredPerSecond: bench.deliveredPerSecond,
      lost: bench.lost,
    };
  } finally {
    if (child.pid) process.kill(-child.pid, 'SIGINT');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (!existsSync('dist/bin/hikyaku.js')) throw new Error('run npm run build first');
  const results: Record<string, Awaited<ReturnType<typeof underLoad>> & { startup: unknown }> = {};
  for (const mode of Object.keys(MODES) as Mode[]) {
    const start = await startup(mode);
    results[mode] = { startup: start, ...(await underLoad(mode)) };
    process.stdout.write(`${JSON.stringify({ mode, ...results[mode] })}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`footprint: ${(err as Error).message}\n`);
  process.exit(1);
});
