import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startNatsServer } from './child-servers.ts';
import { freePort } from './ports.ts';

/** nats-server's own report of the cores its Go runtime uses (/varz `gomaxprocs`). */
function gomaxprocsOf(monitorPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: monitorPort, path: '/varz' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve((JSON.parse(body) as { gomaxprocs: number }).gomaxprocs));
    }).on('error', reject);
  });
}

test('a nats-server started with cores runs its Go runtime on that many; without, as its environment says', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nats-cores-'));
  const started = [];
  try {
    const monitorPort = await freePort();
    // Go takes any number, also more than the machine has.
    const onThree = await startNatsServer({
      port: await freePort(),
      monitorPort,
      dataDir: join(dir, 'three'),
      cores: 3,
    });
    started.push(onThree);
    assert.equal(await gomaxprocsOf(monitorPort), 3);

    const defaultPort = await freePort();
    const asEnv = await startNatsServer({
      port: await freePort(),
      monitorPort: defaultPort,
      dataDir: join(dir, 'default'),
    });
    started.push(asEnv);
    // Go's default is every core the process may run on, as Node counts them.
    const expected = Number(process.env.GOMAXPROCS) || availableParallelism();
    assert.equal(await gomaxprocsOf(defaultPort), expected);
  } finally {
    for (const server of started) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
