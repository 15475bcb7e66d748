/**
 * The runtime the suite runs on: the project supports Node 24 LTS (engines `>=22.12`: the
 * services require() an ES module, cel-js, which Node before 22.12 cannot), and the
 * `node` devDependency puts Node 24 first on PATH for every npm script. The version is
 * printed once so a test log says what it ran on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

test('the suite runs on the Node the project pins (24 LTS)', (t) => {
  t.diagnostic(`node ${process.version}`);
  const major = Number(process.versions.node.split('.')[0]);
  assert.equal(major, 24, `expected Node 24, running ${process.version}`);
});

test('every package that declares engines asks for Node 22.12 or later', () => {
  const read = (path: string) =>
    JSON.parse(readFileSync(new URL(`../${path}`, import.meta.url), 'utf8')) as {
      workspaces?: string[];
      engines?: { node?: string };
    };
  const root = read('package.json');
  assert.equal(root.engines?.node, '>=22.12');
  for (const workspace of root.workspaces ?? []) {
    const node = read(`${workspace}/package.json`).engines?.node;
    if (node !== undefined) assert.equal(node, '>=22.12', workspace);
  }
});
