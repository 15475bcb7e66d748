/**
 * The Dockerfile, read rather than built (no image builder runs in the tests): a
 * multi-stage build that compiles the workspace packages with tsc, installs production
 * dependencies only, and a non-root Node 24 runtime running the compiled command for every
 * component, from a build context that holds every file those components load. The last
 * part follows the imports from each command of bin/hikyaku.ts through the workspace
 * packages, so a new source folder, a file the build leaves out, or a runtime import of a
 * devDependency fails here instead of in a pod.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { SERVICE_NODE_FLAGS } from '@hikyaku/local';
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
interface PackageJson {
  name: string;
  workspaces?: string[];
  exports?: Record<string, Record<string, string>>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}

const readJson = (path: string): PackageJson =>
  JSON.parse(readFileSync(join(REPO_ROOT, path), 'utf8')) as PackageJson;
const pkg = readJson('package.json');
/** Each workspace package by name, with its folder. */
const workspaces = new Map(
  (pkg.workspaces ?? []).map((dir) => {
    const w = readJson(join(dir, 'package.json'));
    return [w.name, { dir, pkg: w }] as const;
  }),
);

/** Folders and files the stages copy from the build context. */
const shipped = built
  .flat()
  .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
  .flatMap((i) => i.args.split(/\s+/).slice(0, -1));

function isShipped(path: string): boolean {
  const inCopied = shipped.some((s) => path === s || path.startsWith(`${s.replace(/\/$/, '')}/`));
  return inCopied && !isIgnored(path);
}

test('builds in stages: production dependencies first, then a small runtime', () => {
  assert.ok(built.length >= 3, 'expected build, dependencies and runtime stages');
  const compile = built[0]?.find(
    (i) => i.keyword === 'RUN' && /tsc -b tsconfig\.build\.json/.test(i.args),
  );
  assert.ok(compile, 'the first stage does not compile the packages');
  const install = built
    .slice(1, -1)
    .flat()
    .find((i) => i.keyword === 'RUN' && /npm ci\b/.test(i.args));
  assert.ok(install, 'no stage installs the production dependencies');
  assert.match(install.args, /--omit=dev/);
  const from = runtime[0]?.args ?? '';
  const base = /ARG NODE_IMAGE=(\S+)/.exec(dockerfile)?.[1];
  // FROM ${NODE_IMAGE}: the ARG's default is the image.
  const image = /^\$\{NODE_IMAGE\}/.test(from) ? base : from.split(/\s+/)[0];
  assert.match(image ?? '', /^(node:24-bookworm-slim|gcr\.io\/distroless\/nodejs24)/);
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
  // The components run with the Node flags local mode gives them.
  assert.deepEqual(JSON.parse(entrypoint ?? 'null'), [
    'node',
    ...SERVICE_NODE_FLAGS,
    '--enable-source-maps',
    'dist/bin/hikyaku.js',
  ]);
  for (const { dir, pkg: w } of [{ dir: '.', pkg }, ...workspaces.values()]) {
    assert.ok(!w.dependencies?.tsx, `${dir}: tsx is for development only, not a dependency`);
    assert.ok(!w.dependencies?.typescript, `${dir}: typescript is not a dependency`);
  }
  const copied = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args);
  for (const folder of ['dist', 'services', 'operator']) {
    assert.ok(
      copied.some((args) => args.startsWith('--from=build') && args.includes(`/app/${folder} `)),
      `the runtime does not take ${folder} from the build stage`,
    );
  }
});

test('the operator container runs the bundle the build stage makes, and it is shipped', async () => {
  assert.equal(pkg.scripts?.['build:operator'], 'node bin/bundle-operator.mjs');
  const bundler = readFileSync(join(REPO_ROOT, 'bin/bundle-operator.mjs'), 'utf8');
  const outfile = /outfile: `\$\{OUT\}\/(\S+)`/.exec(bundler)?.[1];
  const out = /const OUT = '([^']+)'/.exec(bundler)?.[1];
  assert.ok(out && outfile, 'bin/bundle-operator.mjs names no output file');
  assert.ok(
    built[0]?.some((i) => i.keyword === 'RUN' && /npm run build:operator\b/.test(i.args)),
    'the build stage does not bundle the operator',
  );
  const objects = await render();
  const operator = objects.find(
    (o) =>
      o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'operator',
  ) as { spec: { template: { spec: { containers: { command?: string[] }[] } } } } | undefined;
  const command = operator?.spec.template.spec.containers[0]?.command ?? [];
  assert.equal(command[0], 'node');
  assert.ok(!command.includes('--enable-source-maps'), 'the bundle has no source maps to enable');
  assert.equal(command.at(-1), `${out}/${outfile}`, 'the chart runs the file the bundle makes');
  assert.ok(existsSync(join(REPO_ROOT, command.at(-1) ?? '')), 'npm run build made the bundle');
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

/** The commands of bin/hikyaku.ts and the workspace package each one imports. */
function commands(): Map<string, string> {
  const cli = readFileSync(join(REPO_ROOT, 'bin/hikyaku.ts'), 'utf8');
  const found = new Map<string, string>();
  // Each entry of the command table: its name, then the first package its run imports.
  for (const m of cli.matchAll(/name: '([a-z-]+)',(?:(?!name: ')[\s\S])*?import\('([^']+)'\)/g)) {
    found.set(m[1] as string, m[2] as string);
  }
  return found;
}

/** The source file a workspace package specifier names, through its exports map. */
function workspaceSource(spec: string): { file: string; name: string } | undefined {
  const name = spec.split('/').slice(0, 2).join('/');
  const w = workspaces.get(name);
  if (!w) return undefined;
  const target = w.pkg.exports?.[`.${spec.slice(name.length)}`]?.['hikyaku-source'];
  return target ? { file: join(REPO_ROOT, w.dir, target), name } : undefined;
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
    const first = entry ? workspaceSource(entry) : undefined;
    if (!entry || !first) {
      problems.push(`bin/hikyaku.ts has no command "${command}" importing a workspace package`);
      continue;
    }
    const seen = new Set<string>();
    const queue = [first];
    while (queue.length > 0) {
      const { file, name: owner } = queue.pop() as { file: string; name: string };
      if (seen.has(file)) continue;
      seen.add(file);
      const path = relative(REPO_ROOT, file);
      if (!isShipped(path)) problems.push(`${command}: ${path} is not in the build context`);
      if (path.endsWith('.test.ts')) problems.push(`${command}: loads the test ${path}`);
      const declared = workspaces.get(owner)?.pkg.dependencies ?? {};
      for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (!existsSync(target) || !statSync(target).isFile()) {
            problems.push(`${path}: imports ${spec}, which does not exist`);
          } else queue.push({ file: target, name: owner });
          continue;
        }
        const name = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : (spec.split('/')[0] as string);
        if (spec.startsWith('node:') || builtinModules.includes(name)) continue;
        const workspace = workspaceSource(spec);
        if (workspace) queue.push(workspace);
        if (!declared[name]) {
          problems.push(
            `${command}: ${path} imports ${name}, which ${owner} does not list in its dependencies${
              pkg.devDependencies?.[name] ? ' (a devDependency of the root)' : ''
            }`,
          );
        }
      }
    }
    assert.ok(seen.size > 5, `${command}: followed only ${seen.size} files`);
  }
  assert.deepEqual(problems, []);
});
