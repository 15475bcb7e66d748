/**
 * The runtime the suite runs on: the project supports Node 24 LTS (engines `>=22`), and the
 * `node` devDependency puts Node 24 first on PATH for every npm script. The version is
 * printed once so a test log says what it ran on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

test('the suite runs on the Node the project pins (24 LTS)', (t) => {
  t.diagnostic(`node ${process.version}`);
  const major = Number(process.versions.node.split('.')[0]);
  assert.equal(major, 24, `expected Node 24, running ${process.version}`);
});
