/**
 * Free ports for child servers come from below the kernel's ephemeral range, so no outgoing
 * connection on the machine can take one before its server binds it, and are marked so
 * that no other test process picks one too.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { freePort, markPort, PORT_MARKS_DIR } from './ports.ts';

test('free ports are below the ephemeral range, bindable, and not handed out twice', async () => {
  const low = Number(
    readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
  );
  const ports: number[] = [];
  for (let i = 0; i < 50; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length);
  for (const port of ports) {
    assert.ok(port >= 10_000 && port < low, `port ${port} is outside 10000-${low - 1}`);
  }
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(ports[0], '127.0.0.1', resolve));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('two test processes are never handed the same port', async () => {
  // Without the marks, 400 random picks each from ~22,000 ports meet about 7 times.
  const picks = 400;
  const script = `
    import { freePort } from ${JSON.stringify(new URL('./ports.ts', import.meta.url).href)};
    const ports = [];
    for (let i = 0; i < ${picks}; i++) ports.push(await freePort());
    process.stdout.write(JSON.stringify(ports));
  `;
  const child = promisify(execFile)(process.execPath, [
    '--import',
    'tsx',
    '--input-type=module',
    '--eval',
    script,
  ]);
  const ours: number[] = [];
  for (let i = 0; i < picks; i++) ours.push(await freePort());
  const theirs = JSON.parse((await child).stdout) as number[];
  assert.equal(theirs.length, picks);
  assert.deepEqual(
    theirs.filter((port) => ours.includes(port)),
    [],
  );
});

test("a port marked by a running process is passed over, a gone process's mark is taken over", async () => {
  // A port no process has marked (another test file may be running beside this one).
  let port = 0;
  let file = '';
  do {
    port = 10_000 + Math.floor(Math.random() * 5000);
    file = join(PORT_MARKS_DIR, String(port));
  } while (existsSync(file));
  const sleeper = spawn(process.execPath, ['--eval', 'setTimeout(() => {}, 60_000)']);
  const pid = sleeper.pid as number;
  try {
    mkdirSync(PORT_MARKS_DIR, { recursive: true });
    writeFileSync(file, String(pid));
    assert.equal(markPort(port), false);
  } finally {
    sleeper.kill('SIGKILL');
    await once(sleeper, 'exit');
  }
  // Killed: it never removed its mark.
  assert.equal(readFileSync(file, 'utf8'), String(pid));
  assert.equal(markPort(port), true);
  assert.equal(readFileSync(file, 'utf8'), String(process.pid));
  // Ours now: not handed out again, and removed when this process exits.
  assert.equal(markPort(port), false);
});
