/**
 * The package faces, enforced: every workspace package is imported by its name and one of
 * the subpaths its `exports` map offers, never by a path into its folder; and the edges
 * between packages follow the architecture — services never import each other, core imports
 * no service, the data plane never imports the operator, only local mode (and tests) may use
 * the testing package. A package also declares every package it imports, so the image's
 * `npm ci --omit=dev` installs what each one loads.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Workspace {
  name: string;
  /** Folder relative to the repository root. */
  dir: string;
  exports: string[];
  dependencies: string[];
}

/** Which workspace packages each one may import. */
export const ALLOWED_EDGES: Readonly<Record<string, readonly string[]>> = {
  '@hikyaku/core': [],
  '@hikyaku/testing': ['@hikyaku/core'],
  '@hikyaku/ingress': ['@hikyaku/core'],
  '@hikyaku/scheduler': ['@hikyaku/core'],
  '@hikyaku/sender': ['@hikyaku/core'],
  '@hikyaku/operator': ['@hikyaku/core'],
  '@hikyaku/local': ['@hikyaku/core', '@hikyaku/testing'],
};

function workspaces(): Workspace[] {
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    workspaces: string[];
  };
  return root.workspaces.map((dir) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
      name: string;
      exports: Record<string, unknown>;
      dependencies?: Record<string, string>;
    };
    return {
      name: pkg.name,
      dir,
      exports: Object.keys(pkg.exports),
      dependencies: Object.keys(pkg.dependencies ?? {}),
    };
  });
}

/** Every module specifier a TypeScript source names: static, type-only and dynamic imports. */
export function specifiers(source: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\s[^'";]*?\bfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((p) => [...source.matchAll(p)].map((m) => m[1] as string));
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/**
 * What is wrong with one import of one file (paths relative to the repository root), or
 * undefined when it is allowed.
 */
export function importProblem(
  file: string,
  spec: string,
  all: readonly Workspace[],
): string | undefined {
  const owner = all.find((w) => file.startsWith(`${w.dir}/`));
  const isTest = file.endsWith('.test.ts') || !owner;
  if (spec.startsWith('.')) {
    const target = normalize(join(dirname(file), spec));
    const targetOwner = all.find((w) => target.startsWith(`${w.dir}/`));
    if (targetOwner && targetOwner !== owner) {
      return `${file}: deep import ${spec} into ${targetOwner.name}; import '${targetOwner.name}' instead`;
    }
    if (owner && !targetOwner) {
      return `${file}: imports ${spec}, outside its package ${owner.name}`;
    }
    return undefined;
  }
  if (spec.startsWith('node:') || builtinModules.includes(spec)) return undefined;
  const name = packageName(spec);
  const target = all.find((w) => w.name === name);
  if (target) {
    const subpath = `.${spec.slice(name.length)}`;
    if (owner === target && !isTest) {
      return `${file}: imports its own package ${name} by name; use a relative path`;
    }
    if (!target.exports.includes(subpath)) {
      return `${file}: deep import ${spec}; ${name} exports ${target.exports.join(', ')}`;
    }
    // Tests beside a package's code may use the testing package; its code may not.
    const allowed = isTest && name === '@hikyaku/testing';
    if (owner && owner !== target && !allowed && !ALLOWED_EDGES[owner.name]?.includes(name)) {
      return `${file}: ${owner.name} may not import ${name}`;
    }
  }
  if (owner && !isTest && owner.name !== name && !owner.dependencies.includes(name)) {
    return `${file}: imports ${name}, which ${owner.dir}/package.json does not list in dependencies`;
  }
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    if (['node_modules', 'dist', '.hikyaku', '.git'].includes(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

describe('package faces', () => {
  const all = workspaces();

  it('every import in the tree respects the package faces and the allowed edges', () => {
    const files = ['bin', 'bench', 'test', 'services', 'operator'].flatMap(sourceFiles);
    assert.ok(files.length > 200, `found only ${files.length} sources`);
    const problems = files.flatMap((file) => {
      const source = readFileSync(join(ROOT, file), 'utf8');
      return specifiers(source)
        .map((spec) => importProblem(relative('.', file), spec, all))
        .filter((p): p is string => p !== undefined);
    });
    assert.deepEqual(problems, []);
  });

  it('refuses a relative import into another package', () => {
    const problem = importProblem('services/ingress/src/server.ts', '../../core/src/log.ts', all);
    assert.match(problem ?? '', /deep import .* into @hikyaku\/core/);
    assert.match(
      importProblem('test/ingress/fixture.ts', '../../services/sender/src/deliver.ts', all) ?? '',
      /deep import/,
    );
  });

  it('refuses a package subpath its exports map does not offer', () => {
    assert.match(
      importProblem('services/sender/src/x.ts', '@hikyaku/core/src/log.ts', all) ?? '',
      /deep import @hikyaku\/core\/src\/log\.ts/,
    );
    assert.equal(importProblem('services/sender/src/x.ts', '@hikyaku/core/policy', all), undefined);
  });

  it('refuses a package importing itself by name', () => {
    assert.match(
      importProblem('services/testing/src/child-servers.ts', '@hikyaku/testing', all) ?? '',
      /imports its own package/,
    );
  });

  it('refuses the forbidden edges', () => {
    const edge = (from: string, to: string): string | undefined =>
      importProblem(`${from}/src/x.ts`, to, all);
    assert.match(edge('services/ingress', '@hikyaku/scheduler') ?? '', /may not import/);
    assert.match(edge('services/sender', '@hikyaku/operator') ?? '', /may not import/);
    assert.match(edge('services/core', '@hikyaku/sender') ?? '', /may not import/);
    assert.match(edge('operator', '@hikyaku/testing') ?? '', /may not import/);
    assert.equal(edge('services/local', '@hikyaku/testing'), undefined);
  });

  it('refuses an import a package does not declare as a dependency', () => {
    assert.match(
      importProblem('services/ingress/src/x.ts', '@kubernetes/client-node', all) ?? '',
      /does not list in dependencies/,
    );
    assert.equal(importProblem('services/ingress/src/x.test.ts', 'mailparser', all), undefined);
  });

  it('every package edge in ALLOWED_EDGES is a declared dependency, and nothing more', () => {
    for (const w of all) {
      const declared = w.dependencies.filter((d) => d.startsWith('@hikyaku/')).sort();
      assert.deepEqual(declared, [...(ALLOWED_EDGES[w.name] ?? [])].sort(), w.name);
    }
  });
});
