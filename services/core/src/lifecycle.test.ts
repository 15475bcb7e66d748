import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLifecycle } from './lifecycle.ts';
import { createLogger } from './log.ts';

const log = createLogger({ name: 'test', level: 'silent' });

test('shutdown steps run once, in registration order, even when one fails', async () => {
  const lifecycle = createLifecycle({ log, graceMs: 1000 });
  const order: string[] = [];
  lifecycle.onShutdown('stop taking work', async () => {
    order.push('stop');
  });
  lifecycle.onShutdown('finish work', async () => {
    order.push('finish');
    throw new Error('boom');
  });
  lifecycle.onShutdown('drain', async () => {
    order.push('drain');
  });
  assert.equal(lifecycle.stopping, false);
  await Promise.all([lifecycle.shutdown('SIGTERM'), lifecycle.shutdown('SIGTERM')]);
  assert.equal(lifecycle.stopping, true);
  assert.deepEqual(order, ['stop', 'finish', 'drain']);
});

test('a step that outlives the grace period does not keep later steps from running', async () => {
  const lifecycle = createLifecycle({ log, graceMs: 50 });
  const order: string[] = [];
  lifecycle.onShutdown('hangs', () => new Promise(() => undefined));
  lifecycle.onShutdown('close', async () => {
    order.push('close');
  });
  await lifecycle.shutdown('SIGTERM');
  assert.deepEqual(order, ['close']);
});
