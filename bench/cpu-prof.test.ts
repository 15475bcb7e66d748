/**
 * `--cpu-prof DIR`: the services of the stack the benchmark starts are profiled, each
 * writing one V8 CPU profile into DIR when the stack stops.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { type CommandResult, runCommand } from '../test/harness/run-command.ts';
import { summarizeProfile } from './profile-summary.ts';

const BENCH = resolve('bench/relay-bench.ts');
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-cpu-prof-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The benchmark as `npm run bench` runs it. */
function bench(args: string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [
    '--import',
    import.meta.resolve('tsx'),
    '--conditions=hikyaku-source',
    BENCH,
    ...args,
  ]);
}

/** The service a profile is of: the one whose own source files it ran. */
function serviceOf(path: string): string | undefined {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  // The summary reads what the benchmark wrote: it found busy time in the service's own files.
  const summary = summarizeProfile(profile, 10_000);
  assert.ok(summary.busyMs > 0, path);
  const own = summary.byPlace.map(
    (s) => /^services\/(ingress|scheduler|sender)\//.exec(s.name)?.[1],
  );
  assert.ok(
    own.some((name) => name !== undefined),
    `${path}: no time in a service's files`,
  );
  const found = new Set<string>();
  for (const node of profile.nodes as { callFrame: { url: string } }[]) {
    const m = /\/services\/(ingress|scheduler|sender)\/src\//.exec(node.callFrame.url);
    if (m) found.add(m[1] as string);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

test('each service of the stack writes its CPU profile into the folder', {
  timeout: 240_000,
}, async () => {
  const profiles = join(dir, 'profiles');
  const result = await bench([
    '--messages',
    '30',
    '--size',
    '2048',
    '--sessions',
    '3',
    '--from-sources',
    '--cpu-prof',
    profiles,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout.trim());
  assert.equal(report.delivered, 30);
  const files = readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile'));
  assert.equal(files.length, 3, files.join(', '));
  assert.deepEqual(files.map((f) => serviceOf(join(profiles, f))).sort(), [
    'ingress',
    'scheduler',
    'sender',
  ]);
});

test('--cpu-prof is refused with --attach and without a folder', async () => {
  const attached = await bench(['--attach', join(dir, 'stack.json'), '--cpu-prof', dir]);
  assert.equal(attached.code, 2);
  assert.match(attached.stderr, /--cpu-prof needs a stack of its own/);
  const bare = await bench(['--messages', '1', '--from-sources', '--cpu-prof=']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /--cpu-prof takes the folder the profiles go to/);
});
