/**
 * Configuration is read once at start-up from the environment into a frozen object. A bad
 * value stops the process with a message naming the variable; nothing else reads
 * process.env.
 */
import { isIP } from 'node:net';
import { CONSUMER_WATCHDOG_INTERVAL_MS } from './consumer-watchdog.ts';
import { DEFAULT_WIRE_VERSION, WIRE_VERSIONS, type WireVersion } from './contract/wire-version.ts';
import { ConfigError } from './errors.ts';
import { splitHostPort } from './host-port.ts';
import type { NatsCredentials } from './nats.ts';
import { parseRedisTarget } from './redis-target.ts';

export type Env = Record<string, string | undefined>;

export class EnvReader {
  private readonly env: Env;
  private readonly problems: string[] = [];

  constructor(env: Env) {
    this.env = env;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? fallback : raw;
  }

  required(name: string): string {
    const raw = this.env[name];
    if (raw === undefined || raw === '') {
      this.problems.push(`${name} is required`);
      return '';
    }
    return raw;
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value)) {
      this.problems.push(`${name} must be an integer, got "${raw}"`);
      return fallback;
    }
    if (range.min !== undefined && value < range.min) {
      this.problems.push(`${name} must be at least ${range.min}, got ${value}`);
    }
    if (range.max !== undefined && value > range.max) {
      this.problems.push(`${name} must be at most ${range.max}, got ${value}`);
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    this.problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  list(name: string, fallback: string[] = []): string[] {
    const raw = this.env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
      return fallback;
    }
    return raw as T;
  }

  /** Records a problem found by the caller's own check. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws one ConfigError listing every problem found, or returns the frozen value. */
  done<T extends object>(value: T): Readonly<T> {
    if (this.problems.length > 0) {
      throw new ConfigError(`invalid configuration: ${this.problems.join('; ')}`);
    }
    return Object.freeze(value);
  }
}

function readNatsCredentials(r: EnvReader): NatsCredentials {
  const token = r.string('NATS_TOKEN');
  const user = r.string('NATS_USER');
  const pass = r.string('NATS_PASSWORD');
  if (token && user) r.problem('set NATS_TOKEN or NATS_USER/NATS_PASSWORD, not both');
  if (pass && !user) r.problem('NATS_PASSWORD is set without NATS_USER');
  return {
    ...(token ? { token } : {}),
    ...(user ? { user } : {}),
    ...(pass ? { pass } : {}),
  };
}

/** HIKYAKU_DNS_SERVERS: "ip" or "ip:port" entries; empty means the system's resolvers. */
export function readDnsServers(r: EnvReader, name = 'HIKYAKU_DNS_SERVERS'): string[] {
  const servers = r.list(name);
  for (const server of servers) {
    const { host, port } = splitHostPort(server);
    if (isIP(host) === 0 || (port !== undefined && !(port >= 1 && port <= 65535))) {
      r.problem(`${name}: "${server}" is not an IP address with an optional port`);
    }
  }
  return servers;
}

/**
 * HIKYAKU_WIRE_VERSION: the shape queue items, jobs and results are written in (every
 * release reads the versions it knows; see docs/operations.md, "Upgrading"). Unset: the
 * relay's own setting, read at start (relay-wire-version.ts).
 */
export function readWireVersion(r: EnvReader): WireVersion | undefined {
  if (r.string('HIKYAKU_WIRE_VERSION') === undefined) return undefined;
  const names = WIRE_VERSIONS.map(String);
  const raw = r.oneOf('HIKYAKU_WIRE_VERSION', names, String(DEFAULT_WIRE_VERSION));
  return WIRE_VERSIONS.find((v) => String(v) === raw) ?? DEFAULT_WIRE_VERSION;
}

/** Settings every service shares. */
export interface CommonConfig {
  natsUrl: string;
  /** NATS_TOKEN, or NATS_USER and NATS_PASSWORD, when the server requires them. */
  natsCredentials: NatsCredentials;
  redisUrl: string;
  httpPort: number;
  httpHost: string;
  logLevel: string;
  /** Pool this process serves (pool key, see poolKey()). */
  pool: string;
  shutdownGraceMs: number;
  /** How often consumers of work-queue streams are checked for stranded messages. */
  consumerWatchdogMs: number;
}

function readRedisUrl(r: EnvReader): string {
  const url = r.string('REDIS_URL', 'redis://127.0.0.1:6379');
  try {
    parseRedisTarget(url);
  } catch (err) {
    r.problem((err as Error).message);
  }
  return url;
}

export function readCommonConfig(r: EnvReader, defaults: { httpPort: number }): CommonConfig {
  return {
    natsUrl: r.string('NATS_URL', 'nats://127.0.0.1:4222'),
    natsCredentials: readNatsCredentials(r),
    redisUrl: readRedisUrl(r),
    httpPort: r.int('HIKYAKU_HTTP_PORT', defaults.httpPort, { min: 0, max: 65535 }),
    httpHost: r.string('HIKYAKU_HTTP_HOST', '0.0.0.0'),
    logLevel: r.oneOf(
      'HIKYAKU_LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
    pool: r.required('HIKYAKU_POOL'),
    shutdownGraceMs: r.int('HIKYAKU_SHUTDOWN_GRACE_MS', 25_000, { min: 0 }),
    consumerWatchdogMs: r.int('HIKYAKU_CONSUMER_WATCHDOG_MS', CONSUMER_WATCHDOG_INTERVAL_MS, {
      min: 1000,
    }),
  };
}
