/**
 * The Node flags the services run with (local mode and the image's entrypoint): the memory
 * bounds docs/performance.md measured are there, and this Node accepts every flag — a V8
 * flag it does not know stops the process before it runs anything, which would stop every
 * service at once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { SERVICE_NODE_FLAGS } from './service-process.ts';

test('services run with a capped young generation and a slowly growing old generation', () => {
  assert.ok(SERVICE_NODE_FLAGS.includes('--max-semi-space-size=4'));
  assert.ok(SERVICE_NODE_FLAGS.includes('--heap-growing-percent=30'));
  // A hard heap limit would make a service die where it should only collect more often.
  assert.ok(!SERVICE_NODE_FLAGS.some((f) => f.startsWith('--max-old-space-size')));
});

test('this Node accepts every service flag', async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [
    ...SERVICE_NODE_FLAGS,
    '--eval',
    'process.stdout.write("ran")',
  ]);
  assert.equal(stdout, 'ran');
  assert.equal(stderr, '');
});
