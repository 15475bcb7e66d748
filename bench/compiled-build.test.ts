import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertBuildCurrent, BuildOutdatedError } from './compiled-build.ts';

let root: string;
const HOUR = 3600;
const BASE = Date.now() / 1000 - 10 * HOUR;

/** Writes a file of the fake repository, modified `hours` after BASE. */
function file(path: string, hours: number): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, '');
  utimesSync(full, BASE + hours * HOUR, BASE + hours * HOUR);
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'hikyaku-build-check-'));
  file('bin/hikyaku.ts', 0);
  file('services/core/src/contract/subjects.ts', 1);
  file('services/sender/src/sender.ts', 1);
  file('operator/src/reconcile.ts', 1);
});

after(() => {
  rmSync(root, { recursive: true, force: true });
});

const outdated = (message: RegExp) => (err: unknown) =>
  err instanceof BuildOutdatedError &&
  err.code === 'HIKYAKU_BENCH_BUILD_OUTDATED' &&
  message.test(err.message);

test('a tree without a compiled build is refused', () => {
  assert.throws(
    () => assertBuildCurrent(root),
    outdated(/^no compiled build in dist\/: run npm run build first/),
  );
});

test('a build newer than every source is taken; a source changed since is named', () => {
  file('dist/bin/hikyaku.js', 2);
  file('dist/tsconfig.build.tsbuildinfo', 2);
  assert.doesNotThrow(() => assertBuildCurrent(root));
  // Tests are not part of the build.
  file('services/sender/src/sender.test.ts', 3);
  assert.doesNotThrow(() => assertBuildCurrent(root));
  file('services/core/src/contract/subjects.ts', 3);
  assert.throws(
    () => assertBuildCurrent(root),
    outdated(/older than services\/core\/src\/contract\/subjects\.ts: run npm run build first/),
  );
  file('dist/tsconfig.build.tsbuildinfo', 4);
  assert.doesNotThrow(() => assertBuildCurrent(root));
  file('operator/src/reconcile.ts', 5);
  assert.throws(
    () => assertBuildCurrent(root),
    outdated(/older than operator\/src\/reconcile\.ts/),
  );
});
