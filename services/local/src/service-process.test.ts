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
import { freePort } from '@hikyaku/testing';
import { SERVICE_NODE_FLAGS, serviceProcess } from './service-process.ts';

test('services run with a capped young generation and a slowly growing old generation', () => {
  assert.ok(SERVICE_NODE_FLAGS.includes('--max-semi-space-size=4'));
  assert.ok(SERVICE_NODE_FLAGS.includes('--heap-growing-percent=30'));
  // The ingress's peak stays under 128 MiB only without the mid-tier compiler.
  assert.ok(SERVICE_NODE_FLAGS.includes('--no-maglev'));
  // Scavenges of that small young generation cost less on the main thread alone.
  assert.ok(SERVICE_NODE_FLAGS.includes('--no-parallel-scavenge'));
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

test('a service that stops while starting is reported with what it said', async () => {
  const shown: string[] = [];
  const ingress = serviceProcess({
    name: 'ingress',
    command: 'ingress',
    env: { HIKYAKU_SMTP_PORT: 'banana' },
    opsPort: await freePort(),
    // Like local mode's, passing on only logged errors: the plain-text fatal line is not one.
    onOutput: (_name, line) => {
      if (/"level":(50|60)/.test(line)) shown.push(line);
    },
  });
  await assert.rejects(ingress.start(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'HIKYAKU_SERVICE_START_FAILED');
    assert.match(err.message, /^ingress exited with code 1 while starting; its last output:\n/);
    assert.match(err.message, /HIKYAKU_SMTP_PORT must be an integer, got "banana"/);
    return true;
  });
  assert.deepEqual(shown, []);
});
