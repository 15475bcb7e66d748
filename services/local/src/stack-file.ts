/**
 * The stack file: what a running local mode writes into its data folder so that other
 * programs on the same machine (the benchmark's --attach mode) can find it. It is written
 * once the stack is up and removed when it stops; a file left behind by a killed local mode
 * names processes that are gone, which assertStackRunning tells apart.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HikyakuError } from '@hikyaku/core';
import { processRunning } from '@hikyaku/testing';
import { Ajv, type JSONSchemaType } from 'ajv';

export const STACK_FILE_NAME = 'stack.json';

/** Where `npm start` writes it: `hikyaku local` keeps its data in .hikyaku unless --data-dir says otherwise. */
export const DEFAULT_STACK_FILE = join('.hikyaku', STACK_FILE_NAME);

export interface StackFile {
  v: 1;
  smtp: { host: string; port: number };
  natsUrl: string;
  redisUrl: string;
  /** Pool key (see poolKey()): the token in the pool's subjects and Redis keys. */
  pool: string;
  /** Recipient domain the pool routes to the capture sink (example.test in the demo pool). */
  captureDomain: string;
  pids: {
    /** The local-mode supervisor itself. */
    local: number;
    ingress: number;
    scheduler: number;
    sender: number;
    /** Only when local mode started the server (no NATS_URL / REDIS_URL given). */
    natsServer?: number;
    redisServer?: number;
  };
  /** ISO 8601. */
  startedAt: string;
}

const pid = { type: 'integer', minimum: 1 } as const;

const schema: JSONSchemaType<StackFile> = {
  type: 'object',
  properties: {
    v: { type: 'integer', const: 1 },
    smtp: {
      type: 'object',
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
      },
      required: ['host', 'port'],
    },
    natsUrl: { type: 'string', minLength: 1 },
    redisUrl: { type: 'string', minLength: 1 },
    pool: { type: 'string', minLength: 1 },
    captureDomain: { type: 'string', minLength: 1 },
    pids: {
      type: 'object',
      properties: {
        local: pid,
        ingress: pid,
        scheduler: pid,
        sender: pid,
        natsServer: { ...pid, nullable: true },
        redisServer: { ...pid, nullable: true },
      },
      required: ['local', 'ingress', 'scheduler', 'sender'],
    },
    startedAt: { type: 'string' },
  },
  required: ['v', 'smtp', 'natsUrl', 'redisUrl', 'pool', 'captureDomain', 'pids', 'startedAt'],
};

const validate = new Ajv({ allErrors: true }).compile(schema);

/** No usable stack file: the message says where it was looked for and what to do. */
export class NoRunningStackError extends HikyakuError {
  readonly path: string;

  constructor(path: string, reason?: string) {
    super(
      'HIKYAKU_NO_RUNNING_STACK',
      `no running hikyaku found at ${path}${reason ? ` (${reason})` : ''}: start one with npm start`,
    );
    this.name = 'NoRunningStackError';
    this.path = path;
  }
}

/** Written to a temporary name and renamed, so a reader never sees half a file. */
export function writeStackFile(path: string, stack: StackFile): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(stack, null, 2)}\n`);
  renameSync(temporary, path);
}

export function removeStackFile(path: string): void {
  rmSync(path, { force: true });
}

export function readStackFile(path: string): StackFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NoRunningStackError(path);
    throw new NoRunningStackError(path, `cannot read it: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new NoRunningStackError(path, `not JSON: ${(err as Error).message}`);
  }
  if (!validate(parsed)) {
    const issues = (validate.errors ?? []).map(
      (e) => `${e.instancePath || '/'} ${e.message ?? ''}`,
    );
    throw new NoRunningStackError(path, `not a hikyaku stack file: ${issues.join('; ')}`);
  }
  return parsed;
}

/** Throws when a process the file names is gone: the file outlived its local mode. */
export function assertStackRunning(path: string, stack: StackFile): void {
  for (const [name, processId] of Object.entries(stack.pids)) {
    if (processId !== undefined && !processRunning(processId)) {
      throw new NoRunningStackError(
        path,
        `the file is stale: its ${name} process, pid ${processId}, is not running`,
      );
    }
  }
}
