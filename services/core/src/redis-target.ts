/**
 * What REDIS_URL names: one Redis server (`redis://`, `rediss://`, as ioredis reads them), or
 * a master found through Redis Sentinel:
 *
 *   redis-sentinel://[:password@]host[:port][,host[:port]…]/<master name>[/<db>]
 *
 * The password is the Redis servers' (master and replicas); sentinels are asked without one.
 * Sentinel ports default to 26379.
 */
import { ConfigError } from './errors.ts';

export type RedisTarget =
  | { kind: 'server'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      name: string;
      password?: string;
      db?: number;
    };

const SENTINEL_SCHEME = 'redis-sentinel://';
const SENTINEL_PORT = 26379;

function sentinelHost(part: string, url: string): { host: string; port: number } {
  // [v6]:port, [v6], host:port, host
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(part);
  const plain = /^([^:[\]]+)(?::(\d+))?$/.exec(part);
  const match = bracketed ?? plain;
  if (!match?.[1]) throw new ConfigError(`REDIS_URL: "${part}" is not host[:port] in ${url}`);
  const port = match[2] === undefined ? SENTINEL_PORT : Number(match[2]);
  if (!(port >= 1 && port <= 65535)) {
    throw new ConfigError(`REDIS_URL: port of "${part}" is out of range`);
  }
  return { host: match[1], port };
}

/** Throws ConfigError naming what is wrong with the URL. */
export function parseRedisTarget(url: string): RedisTarget {
  if (!url.startsWith(SENTINEL_SCHEME)) {
    if (!/^rediss?:\/\//.test(url)) {
      throw new ConfigError(
        `REDIS_URL: "${url}" must start with redis://, rediss:// or ${SENTINEL_SCHEME}`,
      );
    }
    return { kind: 'server', url };
  }
  const rest = url.slice(SENTINEL_SCHEME.length);
  const at = rest.lastIndexOf('@');
  const auth = at >= 0 ? rest.slice(0, at) : undefined;
  const afterAuth = at >= 0 ? rest.slice(at + 1) : rest;
  const slash = afterAuth.indexOf('/');
  const hosts = slash >= 0 ? afterAuth.slice(0, slash) : afterAuth;
  const [name, db, ...extra] = slash >= 0 ? afterAuth.slice(slash + 1).split('/') : [];
  if (!name || extra.length > 0) {
    throw new ConfigError(`REDIS_URL: a sentinel URL ends with /<master name>[/<db>]: ${url}`);
  }
  if (!hosts) throw new ConfigError(`REDIS_URL: a sentinel URL names at least one sentinel`);
  if (db !== undefined && !/^\d+$/.test(db)) {
    throw new ConfigError(`REDIS_URL: database "${db}" is not a number`);
  }
  const password = auth === undefined ? undefined : decodeURIComponent(auth.replace(/^[^:]*:/, ''));
  return {
    kind: 'sentinel',
    sentinels: hosts.split(',').map((part) => sentinelHost(part, url)),
    name: decodeURIComponent(name),
    ...(password ? { password } : {}),
    ...(db !== undefined ? { db: Number(db) } : {}),
  };
}
