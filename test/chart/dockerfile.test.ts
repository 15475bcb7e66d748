/**
 * The Dockerfile, read rather than built (no image builder runs in the tests): a
 * multi-stage build that installs production dependencies only, a non-root runtime with
 * one entrypoint for every component, and a build context that holds every file those
 * components load. The last part follows the imports from each command of
 * bin/hikyaku.ts, so a new source folder, or a runtime import of a devDependency, fails
 * here instead of in a pod.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, render } from './helm.ts';

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of each stage (those before the first FROM left out), continuation lines
 * joined, comments dropped. */
function stages(dockerfile: string): Instruction[][] {
  const text = dockerfile.replace(/\\\n/g, ' ');
  const result: Instruction[][] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    const instruction = { keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim() };
    if (instruction.keyword === 'FROM') result.push([]);
    result.at(-1)?.push(instruction);
  }
  return result;
}

/** .dockerignore as the builder applies it: the last matching pattern wins, and a pattern
 * matching a parent folder matches what is inside it. */
function ignoredBy(dockerignore: string): (path: string) => boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!');
      const pattern = (include ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) => {
          if (part === '**/' || part === '**') return '(?:.*/)?';
          if (part === '*') return '[^/]*';
          if (part === '?') return '[^/]';
          return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { include, regex: new RegExp(`^${source}$`) };
    });
  return (path: string) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.regex.test(p))) ignored = !rule.include;
    }
    return ignored;
  };
}

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const built = stages(dockerfile);
const runtime = built.at(-1) as Instruction[];
const isIgnored = ignoredBy(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Folders and files the runtime stage copies from the build context. */
const shipped = runtime
  .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
  .flatMap((i) => i.args.split(/\s+/).slice(0, -1));

function isShipped(path: string): boolean {
  const inCopied = shipped.some((s) => path === s || path.startsWith(`${s.replace(/\/$/, '')}/`));
  return inCopied && !isIgnored(path);
}

test('builds in stages: production dependencies first, then a small runtime', () => {
  assert.ok(built.length >= 2, 'a single stage');
  const install = built[0]?.find((i) => i.keyword === 'RUN' && /npm ci\b/.test(i.args));
  assert.ok(install, 'the first stage does not run npm ci');
  assert.match(install.args, /--omit=dev/);
  const from = runtime[0]?.args ?? '';
  const base = /ARG NODE_IMAGE=(\S+)/.exec(dockerfile)?.[1];
  // FROM ${NODE_IMAGE}: the ARG's default is the image.
  const image = /^\$\{NODE_IMAGE\}/.test(from) ? base : from.split(/\s+/)[0];
  assert.match(image ?? '', /^(node:20-bookworm-slim|gcr\.io\/distroless\/nodejs20)/);
  assert.ok(
    runtime.some((i) => i.keyword === 'COPY' && /--from=\S+ \/app\/node_modules/.test(i.args)),
    'the runtime does not take node_modules from the build stage',
  );
});

test('runs as a fixed non-root user, one entrypoint for every component', () => {
  const user = runtime.filter((i) => i.keyword === 'USER').at(-1)?.args ?? '';
  assert.match(user, /^[1-9][0-9]*(:[1-9][0-9]*)?$/, 'USER must be a numeric non-root id');
  assert.equal(user.split(':')[0], '10001', 'the chart runs user 10001');
  const entrypoint = runtime.find((i) => i.keyword === 'ENTRYPOINT')?.args;
  assert.deepEqual(JSON.parse(entrypoint ?? 'null'), ['node', '--import', 'tsx', 'bin/hikyaku.ts']);
  assert.ok(pkg.dependencies.tsx, 'tsx runs the sources at run time: it must be a dependency');
});

test('copies only what exists, and nothing the build context leaves out', () => {
  assert.ok(shipped.length > 0);
  for (const source of shipped) {
    assert.ok(existsSync(join(REPO_ROOT, source)), `COPY ${source}: no such file or folder`);
    assert.ok(!isIgnored(source.replace(/\/$/, '')), `COPY ${source}: excluded by .dockerignore`);
  }
  assert.ok(isIgnored('node_modules'), 'node_modules must stay out of the build context');
  assert.ok(isIgnored('services/core/src/config.test.ts'), 'tests must stay out of the image');
  assert.ok(!isIgnored('services/core/src/config.ts'));
});

/** Module specifiers a source file loads at run time (type-only imports are erased). */
function runtimeImports(source: string): string[] {
  const patterns = [
    /^\s*import\s+(?!type\b)[^'";]*?\bfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /^\s*export\s+(?!type\b)[^'";]*?\bfrom\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((p) => [...source.matchAll(p)].map((m) => m[1] as string));
}

/** The commands of bin/hikyaku.ts and the module each one imports. */
function commands(): Map<string, string> {
  const cli = readFileSync(join(REPO_ROOT, 'bin/hikyaku.ts'), 'utf8');
  const found = new Map<string, string>();
  for (const m of cli.matchAll(/case '([a-z]+)':\s*\{(?:(?!case ')[\s\S])*?import\('([^']+)'\)/g)) {
    found.set(m[1] as string, resolve(REPO_ROOT, 'bin', m[2] as string));
  }
  return found;
}

test('every command the chart runs exists, and loads only shipped files and dependencies', async () => {
  const available = commands();
  const objects = await render();
  const run = new Set(['sender']); // the operator starts senders with the same image
  for (const d of objects.filter((o) => o.kind === 'Deployment')) {
    const spec = d.spec as { template: { spec: { containers: { args: string[] }[] } } };
    run.add(spec.template.spec.containers[0]?.args[0] as string);
  }
  const problems: string[] = [];
  for (const command of run) {
    const entry = available.get(command);
    if (!entry) {
      problems.push(`bin/hikyaku.ts has no command "${command}"`);
      continue;
    }
    const seen = new Set<string>();
    const queue = [join(REPO_ROOT, 'bin/hikyaku.ts'), entry];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const path = relative(REPO_ROOT, file);
      if (!isShipped(path)) problems.push(`${command}: ${path} is not in the image`);
      // The CLI's other commands are not this one's imports.
      const source = file.endsWith('bin/hikyaku.ts') ? '' : readFileSync(file, 'utf8');
      for (const spec of runtimeImports(source)) {
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (!existsSync(target) || !statSync(target).isFile()) {
            problems.push(`${path}: imports ${spec}, which does not exist`);
          } else queue.push(target);
          continue;
        }
        const name = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : (spec.split('/')[0] as string);
        if (spec.startsWith('node:') || builtinModules.includes(name)) continue;
        if (!pkg.dependencies[name]) {
          problems.push(
            `${command}: ${path} imports ${name}, which npm ci --omit=dev does not install${
              pkg.devDependencies[name] ? ' (a devDependency)' : ''
            }`,
          );
        }
      }
    }
    assert.ok(seen.size > 5, `${command}: followed only ${seen.size} files`);
  }
  assert.deepEqual(problems, []);
});
