/**
 * Which build of the services a benchmark starts. By default the compiled one (dist/, run as
 * `node --max-semi-space-size=4 --enable-source-maps dist/bin/hikyaku.js`): what `npm start`,
 * the image and the chart run, so the figures are the ones users get. Through tsx the
 * services carry its compiler and their transformed sources (about 10 MiB each) and a slower
 * start; `--from-sources` still runs them that way, to compare.
 *
 * `npm run bench` builds first (its `prebench` script, as `npm start` does); a benchmark
 * started another way refuses a build that is missing or older than the sources, rather
 * than measure code other than the working tree's.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliInvocation, compiledInvocation } from '@hikyaku/local';

export class BuildOutdatedError extends Error {
  readonly code = 'HIKYAKU_BENCH_BUILD_OUTDATED';
  constructor(what: string) {
    super(
      `${what}: run npm run build first (npm run bench does), or pass --from-sources to run the services through tsx`,
    );
    this.name = 'BuildOutdatedError';
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where the sources of the compiled build are under `root`; tests are not part of it. */
function sourceDirs(root: string): string[] {
  const services = join(root, 'services');
  const packages = existsSync(services)
    ? readdirSync(services, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => join(services, entry.name, 'src'))
    : [];
  return [join(root, 'bin'), join(root, 'operator', 'src'), ...packages];
}

/** The newest source file of the build under `dir`, as [modified ms, path]. */
function newestSource(dir: string): [number, string] {
  let newest: [number, string] = [0, ''];
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    const modified = statSync(path).mtimeMs;
    if (modified > newest[0]) newest = [modified, path];
  }
  return newest;
}

/**
 * Throws BuildOutdatedError unless `root`'s dist/ holds a build at least as new as every
 * source. The build's record, dist/tsconfig.build.tsbuildinfo, is rewritten by `tsc -b
 * tsconfig.build.json` whenever a source changed (the emitted files only where their
 * output did), so it dates the last build.
 */
export function assertBuildCurrent(root = ROOT): void {
  const buildInfo = join(root, 'dist', 'tsconfig.build.tsbuildinfo');
  if (!existsSync(join(root, 'dist', 'bin', 'hikyaku.js')) || !existsSync(buildInfo)) {
    throw new BuildOutdatedError('no compiled build in dist/');
  }
  const built = statSync(buildInfo).mtimeMs;
  const [modified, path] = sourceDirs(root)
    .map(newestSource)
    .reduce((a, b) => (b[0] > a[0] ? b : a));
  if (modified > built) {
    throw new BuildOutdatedError(
      `the compiled build in dist/ is older than ${relative(root, path)}`,
    );
  }
}

/** The Node arguments that start the services of a benchmark's own stack. */
export function servicesInvocation(fromSources: boolean): string[] {
  if (fromSources) return cliInvocation();
  assertBuildCurrent();
  return compiledInvocation();
}
