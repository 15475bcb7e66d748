import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  assertStackRunning,
  NoRunningStackError,
  readStackFile,
  removeStackFile,
  type StackFile,
  writeStackFile,
} from './stack-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'hikyaku-stack-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const stack: StackFile = {
  v: 1,
  smtp: { host: '127.0.0.1', port: 2525 },
  natsUrl: 'nats://127.0.0.1:4222',
  redisUrl: 'redis://127.0.0.1:6379',
  pool: 'local_local-demo',
  captureDomain: 'example.test',
  pids: { local: process.pid, ingress: process.pid, scheduler: process.pid, sender: process.pid },
  startedAt: '2026-11-30T00:00:00.000Z',
};

test('a written stack file reads back as it was, and is gone once removed', () => {
  const path = join(dir, 'stack.json');
  writeStackFile(path, stack);
  assert.deepEqual(readStackFile(path), stack);
  removeStackFile(path);
  assert.equal(existsSync(path), false);
  removeStackFile(path);
});

test('a missing stack file says where it looked and how to start a stack', () => {
  const path = join(dir, 'absent.json');
  assert.throws(
    () => readStackFile(path),
    (err: unknown) =>
      err instanceof NoRunningStackError &&
      err.message === `no running hikyaku found at ${path}: start one with npm start`,
  );
});

test('a malformed stack file is refused with what is wrong', () => {
  const notJson = join(dir, 'not-json.json');
  writeFileSync(notJson, '{"v":1,');
  assert.throws(() => readStackFile(notJson), /no running hikyaku found at .*not JSON.*npm start/);
  const incomplete = join(dir, 'incomplete.json');
  writeFileSync(incomplete, JSON.stringify({ ...stack, smtp: { host: '127.0.0.1' } }));
  assert.throws(
    () => readStackFile(incomplete),
    /no running hikyaku found at .*not a hikyaku stack file: \/smtp must have required property 'port'.*npm start/,
  );
});

test('a stack file whose processes are gone is stale', () => {
  assert.doesNotThrow(() => assertStackRunning('stack.json', stack));
  // A process that has exited and been reaped: its pid names nothing now.
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  assert.throws(
    () => assertStackRunning('stack.json', { ...stack, pids: { ...stack.pids, sender: gone } }),
    /no running hikyaku found at stack\.json \(the file is stale: its sender process, pid \d+, is not running\)/,
  );
});
