/**
 * `--cpu-prof DIR`: the services of the stack the benchmark starts are profiled, each
 * writing one V8 CPU profile into DIR when the stack stops.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runBench as bench } from '../test/harness/run-command.ts';
import { type CpuProfile, summarizeProfile, type Window } from './profile-summary.ts';

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-cpu-prof-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The service a profile is of: the one service whose own source files are on its sampled
 * stacks. Stacks, not self time: a short run can leave a service's own files with no sample
 * of their own (its time spent in the packages and the core they call), but every sample of
 * its work has them below.
 */
function serviceOf(path: string): string | undefined {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  assert.ok(summarizeProfile(profile, 10_000).busyMs > 0, path);
  const services = new Set(
    profile.nodes.flatMap(
      (n) => /\/services\/(ingress|scheduler|sender)\//.exec(n.callFrame.url)?.[1] ?? [],
    ),
  );
  return services.size === 1 ? [...services][0] : undefined;
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
  // The run's span selects its samples: every service worked in it, and its start-up (before
  // the span) is left out.
  const { from, to } = report.windowUs as Window;
  assert.ok(from < to, JSON.stringify(report.windowUs));
  for (const f of files) {
    const profile = JSON.parse(readFileSync(join(profiles, f), 'utf8'));
    const run = summarizeProfile(profile, 10_000, { from, to });
    const whole = summarizeProfile(profile, 10_000);
    assert.ok(run.busyMs > 0, `${f}: no work in the run's window`);
    assert.ok(run.busyMs < whole.busyMs, `${f}: the window left nothing out`);
  }
});

test('--cpu-prof is refused with --attach and without a folder', async () => {
  const attached = await bench(['--attach', join(dir, 'stack.json'), '--cpu-prof', dir]);
  assert.equal(attached.code, 2);
  assert.match(attached.stderr, /--cpu-prof needs a stack of its own/);
  const bare = await bench(['--messages', '1', '--from-sources', '--cpu-prof=']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /--cpu-prof takes the folder the profiles go to/);
});
