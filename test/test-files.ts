/**
 * The test files `npm run test:unit` runs, the slowest first. The runner starts files in the
 * order it is given them, two at a time (`--test-concurrency=2`): a file of several minutes
 * started near the end of an alphabetical list runs on alone while the rest is done, and the
 * whole run waits for it. Started first, it runs beside the others.
 *
 * `node test/test-files.ts` prints them, one per line (Node 24 runs this TypeScript itself).
 */
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Files that take a minute or more on the two-core CI machine, longest first. */
export const SLOWEST_FIRST = [
  'test/scheduler/learned-limit.test.ts', // about 240 s
  'test/e2e/replicas.test.ts', // about 130 s
  'test/e2e/redis-sentinel.test.ts', // about 115 s
  'test/scheduler/throttling.test.ts', // about 70 s
  'test/sender/slow-receiver.test.ts', // about 60 s
  'test/scheduler/parking.test.ts', // about 45 s
];

/** Folders holding no test of the project's: dependencies, builds, local mode's data. */
const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', '.hikyaku', '.git']);

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function testFilesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_FOLDERS.has(entry.name)) found.push(...testFilesUnder(join(dir, entry.name)));
    } else if (entry.name.endsWith('.test.ts')) {
      found.push(join(dir, entry.name));
    }
  }
  return found;
}

/** Every test file, relative to the repository with `/` between folders, slowest first. */
export function listTestFiles(root = ROOT): string[] {
  const all = testFilesUnder(root)
    .map((path) => relative(root, path).split(sep).join('/'))
    .sort();
  // A listed file that was moved or removed only loses its place; test-files.test.ts says so.
  const slow = SLOWEST_FIRST.filter((path) => all.includes(path));
  return [...slow, ...all.filter((path) => !slow.includes(path))];
}

if (import.meta.main) process.stdout.write(`${listTestFiles().join('\n')}\n`);
