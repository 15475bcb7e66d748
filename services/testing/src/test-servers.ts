/**
 * What an integration test stands on: its own nats-server (JetStream on) or redis-server
 * on a free loopback port, its data in a temporary folder, and a connected client. close()
 * ends the client, then the server, then removes the folder, so a test file that calls it
 * in `after` leaves no handle open and nothing on disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNats, ensureStreams, type NatsHandles } from '@hikyaku/core';
import type { Redis } from 'ioredis';
import { type ChildServer, startNatsServer, startRedisServer } from './child-servers.ts';
import { freePort } from './ports.ts';

export interface TestNats {
  readonly server: ChildServer;
  /** A client of `server`, named as the test asked. */
  readonly nats: NatsHandles;
  close(): Promise<void>;
}

export interface TestRedis {
  readonly server: ChildServer;
  readonly redis: Redis;
  close(): Promise<void>;
}

/**
 * Starts nats-server -js and connects to it. The relay's streams are created unless
 * `streams` is false (a test of JetStream plumbing that makes streams of its own).
 * `maxReconnectAttempts: 0` makes the client give up when the test stops the server.
 */
export async function startTestNats(
  name: string,
  options: { streams?: boolean; maxReconnectAttempts?: number } = {},
): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), `hikyaku-${name}-`));
  let server: ChildServer | undefined;
  let nats: NatsHandles | undefined;
  const close = async (): Promise<void> => {
    await nats?.nc.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    server = await startNatsServer({ port: await freePort(), dataDir: dir });
    nats = await connectNats({
      url: server.url,
      name,
      ...(options.maxReconnectAttempts === undefined
        ? {}
        : { maxReconnectAttempts: options.maxReconnectAttempts }),
    });
    if (options.streams !== false) await ensureStreams(nats.jsm);
    return { server, nats, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Starts redis-server (append-only, as the relay runs it) and connects to it. */
export async function startTestRedis(name: string): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), `hikyaku-${name}-`));
  let server: ChildServer | undefined;
  let redis: Redis | undefined;
  const close = async (): Promise<void> => {
    // A client whose server is gone already has nothing to say goodbye to.
    await redis?.quit().catch(() => redis?.disconnect());
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    server = await startRedisServer({ port: await freePort(), dataDir: dir });
    // Loaded here, not at import: local mode loads this package and has no use for it.
    const { Redis: RedisClient } = await import('ioredis');
    redis = new RedisClient(server.url);
    return { server, redis, close };
  } catch (err) {
    await close();
    throw err;
  }
}
