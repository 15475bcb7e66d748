/**
 * What every scheduler command line shares: options parsed strictly (a wrong one prints
 * the command's usage and exits 2), the relay found through --nats/--redis, the
 * environment or the local mode running from --data-dir, connections that fail fast with
 * a coded message, and the pool named as the relay knows it (pool-name.ts).
 *
 * Exit status, the same for every command: 0 done, 1 the relay failed or said no (NATS
 * or Redis unreachable, unknown pool, nothing found), 2 the command line is wrong.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import {
  type CompiledPool,
  connectNats,
  HikyakuError,
  type NatsHandles,
  openPoolBucket,
  poolKey,
} from '@hikyaku/core';
import { Redis } from 'ioredis';
import { choosePool } from './pool-name.ts';
import { readPools } from './status-read.ts';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** The running local mode of a data folder (throws when there is none). */
  localStack?: (dataDir: string) => Promise<{ natsUrl: string; redisUrl: string }>;
}

export const CLI_ERROR_CODES = {
  HIKYAKU_USAGE: 'The command line is wrong (exit 2, with the usage).',
  HIKYAKU_NATS_UNAVAILABLE: 'NATS could not be reached or failed a request.',
  HIKYAKU_REDIS_UNAVAILABLE: 'Redis could not be reached or failed a command.',
  HIKYAKU_UNKNOWN_POOL: 'No pool of that name is known to the relay.',
  HIKYAKU_AMBIGUOUS_POOL: 'A bare pool name matches pools in several namespaces (exit 2).',
  HIKYAKU_NOT_FOUND: 'What the command looked for is not there.',
} as const;

export type CliErrorCode = keyof typeof CLI_ERROR_CODES;

/** Why a command stopped; its code decides the exit status and whether usage is shown. */
export class CliError extends HikyakuError {
  declare readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CliError';
  }

  get status(): number {
    return this.code === 'HIKYAKU_USAGE' || this.code === 'HIKYAKU_AMBIGUOUS_POOL' ? 2 : 1;
  }
}

/** A command line that does not make sense: the message and the usage, exit 2. */
export function usageError(message: string): CliError {
  return new CliError('HIKYAKU_USAGE', message);
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h', default: false } } as const;

/** Options parsed strictly, with -h/--help added; positionals allowed. */
export function parseCommandLine<const O extends ParseArgsOptionsConfig>(
  argv: string[],
  options: O,
) {
  return parseArgs({
    args: argv,
    options: { ...options, ...HELP_OPTION },
    allowPositionals: true,
    strict: true,
  });
}

/** What parse returns for -h/--help: the usage goes to stdout and the exit is 0. */
export const HELP = Symbol('help');

export interface CliCommand<T> {
  /** The command's name after `hikyaku`. */
  name: string;
  usage: string;
  /** Reads the command line; throws a usage error (or any error: it is one). */
  parse(argv: string[], io: CliIo): T | typeof HELP;
  /** Does the work; returns the exit status, or throws a CliError. */
  run(args: T, io: CliIo): Promise<number>;
}

/** Parses (or prints the usage), runs, and turns what was thrown into a message and a status. */
export async function runCommand<T>(
  command: CliCommand<T>,
  argv: string[],
  io: CliIo,
): Promise<number> {
  let args: T | typeof HELP;
  try {
    args = command.parse(argv, io);
  } catch (err) {
    io.err(`hikyaku ${command.name}: ${(err as Error).message}`);
    io.err(command.usage);
    return 2;
  }
  if (args === HELP) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof CliError) {
      if (err.code === 'HIKYAKU_USAGE') {
        io.err(`hikyaku ${command.name}: ${err.message}`);
        io.err(command.usage);
      } else {
        io.err(`hikyaku ${command.name}: [${err.code}] ${err.message}`);
      }
      return err.status;
    }
    io.err(`hikyaku ${command.name}: ${(err as Error).message}`);
    return 1;
  }
}

/** The pool key of a command-line value that needs no lookup: a key, or namespace/name. */
export function poolKeyOf(value: string): string {
  const slash = value.indexOf('/');
  return slash < 0 ? value : poolKey(value.slice(0, slash), value.slice(slash + 1));
}

export interface RelayOptions {
  nats?: string | undefined;
  redis?: string | undefined;
  dataDir?: string | undefined;
}

/**
 * The options naming the relay, for a command's parseCommandLine: spread the servers the
 * command talks to (an option it would ignore stays a usage error) and always the data
 * folder of the local mode.
 */
export const RELAY_OPTIONS = {
  nats: { nats: { type: 'string' } },
  redis: { redis: { type: 'string' } },
  dataDir: { 'data-dir': { type: 'string', default: '.hikyaku' } },
} as const satisfies Record<string, ParseArgsOptionsConfig>;

/** The relay options of parsed values (those a command did not declare stay undefined). */
export function relayOptionsOf(values: {
  nats?: string | undefined;
  redis?: string | undefined;
  'data-dir'?: string | undefined;
}): RelayOptions & { dataDir: string } {
  return {
    ...(values.nats !== undefined ? { nats: values.nats } : {}),
    ...(values.redis !== undefined ? { redis: values.redis } : {}),
    dataDir: values['data-dir'] ?? '.hikyaku',
  };
}

/**
 * The relay's URLs: the options, else NATS_URL/REDIS_URL, else the local mode running
 * from the data folder. A needed URL found nowhere is a usage error naming the option.
 */
export async function relayUrls<N extends boolean, R extends boolean>(
  given: RelayOptions,
  io: CliIo,
  need: { nats: N; redis: R },
): Promise<{
  natsUrl: N extends true ? string : undefined;
  redisUrl: R extends true ? string : undefined;
}> {
  let natsUrl = given.nats ?? io.env.NATS_URL;
  let redisUrl = given.redis ?? io.env.REDIS_URL;
  let why = '';
  if ((need.nats && !natsUrl) || (need.redis && !redisUrl)) {
    try {
      const local = await io.localStack?.(given.dataDir ?? '.hikyaku');
      natsUrl ??= local?.natsUrl;
      redisUrl ??= local?.redisUrl;
    } catch (err) {
      why = `; ${(err as Error).message}`;
    }
  }
  const missing = [
    need.redis && !redisUrl ? '--redis URL' : '',
    need.nats && !natsUrl ? '--nats URL' : '',
  ].filter(Boolean);
  if (missing.length > 0) {
    const vars = missing.map((m) => (m === '--nats URL' ? 'NATS_URL' : 'REDIS_URL')).join(' and ');
    throw usageError(
      `${missing.join(' and ')} needed (or set ${vars}, or run it beside a local mode)${why}`,
    );
  }
  return {
    natsUrl: (need.nats ? natsUrl : undefined) as N extends true ? string : undefined,
    redisUrl: (need.redis ? redisUrl : undefined) as R extends true ? string : undefined,
  };
}

/** A NATS connection that fails at once instead of retrying; credentials from the environment. */
export async function connectCliNats(url: string, name: string, io: CliIo): Promise<NatsHandles> {
  try {
    return await connectNats({
      url,
      name: `hikyaku-${name}-cli`,
      maxReconnectAttempts: 0,
      credentials: {
        ...(io.env.NATS_TOKEN ? { token: io.env.NATS_TOKEN } : {}),
        ...(io.env.NATS_USER ? { user: io.env.NATS_USER, pass: io.env.NATS_PASSWORD ?? '' } : {}),
      },
    });
  } catch (err) {
    throw natsFailed(url, err);
  }
}

export function natsFailed(url: string, err: unknown): CliError {
  return new CliError(
    'HIKYAKU_NATS_UNAVAILABLE',
    `NATS at ${url} failed: ${(err as Error).message}`,
    { cause: err },
  );
}

export function redisFailed(url: string, err: unknown): CliError {
  return new CliError(
    'HIKYAKU_REDIS_UNAVAILABLE',
    `Redis at ${url} failed: ${(err as Error).message}`,
    { cause: err },
  );
}

/** A connected Redis client that does not retry: a command fails instead of waiting. */
export async function connectCliRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {
    // Reported by the command that fails.
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw redisFailed(url, err);
  }
  return redis;
}

/**
 * The compiled pool a command-line value names (pool-name.ts), read from the relay's KV:
 * an unknown pool is HIKYAKU_UNKNOWN_POOL (exit 1), a bare name in several namespaces a
 * usage error.
 */
export async function choosePoolOf(nats: NatsHandles, value: string): Promise<CompiledPool> {
  const pools = await readPools(nats.jsm, await openPoolBucket(nats.js));
  const choice = choosePool(value, pools);
  if (choice.kind === 'ambiguous') {
    throw new CliError(
      'HIKYAKU_AMBIGUOUS_POOL',
      `"${value}" names more than one pool: ${choice.candidates.join(', ')}; give namespace/name`,
    );
  }
  if (choice.kind === 'unknown') {
    throw new CliError(
      'HIKYAKU_UNKNOWN_POOL',
      `no pool "${value}" is known to the relay; known: ${choice.known.join(', ') || 'none'}`,
    );
  }
  return pools.find((p) => p.key === choice.key) as CompiledPool;
}

/** Every pool the relay knows; none is HIKYAKU_UNKNOWN_POOL. */
export async function allPools(nats: NatsHandles): Promise<CompiledPool[]> {
  const pools = await readPools(nats.jsm, await openPoolBucket(nats.js));
  if (pools.length === 0) throw new CliError('HIKYAKU_UNKNOWN_POOL', 'the relay knows no pool yet');
  return pools;
}
