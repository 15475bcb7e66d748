/** redis-sentinel as a child process, for tests of a Redis master's failover. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary } from './binaries.ts';
import { type ChildServer, startChildServer } from './child-servers.ts';

/**
 * A Redis Sentinel watching one master (quorum 1: a single sentinel decides, which is
 * enough for tests of a failover), declaring it down after `downAfterMs`.
 */
export async function startRedisSentinel(options: {
  port: number;
  dataDir: string;
  masterName: string;
  master: { host: string; port: number };
  downAfterMs?: number;
  host?: string;
  log?: (line: string) => void;
}): Promise<ChildServer> {
  const bin = requireBinary('redis-sentinel', 'redis-sentinel');
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.dataDir, { recursive: true });
  // Sentinel rewrites its configuration file as it learns; it must be its own, writable.
  const configFile = join(options.dataDir, 'sentinel.conf');
  const { masterName, master } = options;
  writeFileSync(
    configFile,
    [
      `port ${options.port}`,
      `bind ${host}`,
      `dir ${options.dataDir}`,
      `logfile ${join(options.dataDir, 'sentinel.log')}`,
      `sentinel monitor ${masterName} ${master.host} ${master.port} 1`,
      `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${masterName} 10000`,
      '',
    ].join('\n'),
  );
  return startChildServer({
    bin,
    host,
    port: options.port,
    url: `redis://${host}:${options.port}`,
    ...(options.log ? { log: options.log } : {}),
    args: [configFile],
  });
}
