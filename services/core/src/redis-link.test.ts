import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ChildServer, freePort, startRedisServer, waitFor } from '@hikyaku/testing';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { METRICS } from './contract/metrics.ts';
import { startOpsServer } from './http.ts';
import { connectRedis, type RedisLink } from './redis-link.ts';

let dir: string;
let server: ChildServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hikyaku-redis-link-'));
  server = await startRedisServer({ port: await freePort(), dataDir: dir });
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function readyz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function gauge(registry: Registry): Promise<number | undefined> {
  const values = (await registry.getSingleMetric(METRICS.redisUp)?.get())?.values;
  return values?.[0]?.value;
}

test('an outage shows in /readyz and the gauge, lookups are skipped, both come back', async () => {
  const registry = new Registry();
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(line) });
  let link: RedisLink | undefined;
  const ops = await startOpsServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    ready: () => true,
    detail: () => (link ? [link.describe()] : []),
  });
  link = connectRedis({ url: server.url, mode: 'lookups', timeoutMs: 500, log, registry });
  try {
    await waitFor('connected', () => link?.available());
    assert.deepEqual(await readyz(ops.port), { status: 200, body: 'ready\nredis: up\n' });
    assert.equal(await gauge(registry), 1);

    await server.stop();
    await waitFor('the outage noticed', () => !link?.available());
    // A command fails at once rather than waiting in a queue for Redis to come back.
    await assert.rejects(link.client.get('k'));
    const down = await readyz(ops.port);
    assert.equal(down.status, 200, 'Redis is not a reason to stop taking work');
    assert.match(down.body, /^ready\nredis: unreachable since \d{4}-\d\d-\d\dT\S+ \(.+\)\n$/);
    assert.equal(await gauge(registry), 0);

    await server.restart();
    await waitFor('reconnected', () => link?.available(), { timeoutMs: 20_000 });
    assert.equal((await readyz(ops.port)).body, 'ready\nredis: up\n');
    const messages = logs.map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.deepEqual(
      messages.filter((m) => m.startsWith('redis')),
      ['redis unreachable', 'redis reachable again'],
    );
  } finally {
    await link.close();
    await ops.close();
  }
});

test('after a failed lookup, lookups are skipped for the cooldown only', async () => {
  let clock = 1_000_000;
  const link = connectRedis({
    url: server.url,
    mode: 'lookups',
    log: pino({ level: 'silent' }),
    cooldownMs: 5000,
    now: () => clock,
  });
  try {
    await waitFor('connected', () => link.available());
    link.failed();
    assert.equal(link.available(), false);
    clock += 4999;
    assert.equal(link.available(), false);
    clock += 1;
    assert.equal(link.available(), true);
  } finally {
    await link.close();
  }
});
