/**
 * Submitter passwords are stored only as salted scrypt hashes, in one self-describing
 * string the operator publishes and the ingress verifies:
 *
 *   $scrypt$N=16384,r=8,p=1$<salt, base64>$<hash, base64>
 *
 * (base64 without padding, as in the PHC string format). The parameters travel with the
 * hash, so the cost can be raised later without invalidating hashes already published.
 * scrypt comes from node:crypto, so no third-party code sees a password.
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { HikyakuError } from './errors.ts';
import type { SubmitterSpec } from './pool/spec.ts';

export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1, saltBytes: 16, hashBytes: 32 } as const;

/**
 * What a hash may ask for. A hash is data read from NATS KV; bounding its parameters keeps
 * a malformed or hostile entry from making one verification eat the ingress' memory.
 */
const LIMITS = { maxN: 1 << 20, maxR: 32, maxP: 16, minHashBytes: 16, maxHashBytes: 64 } as const;

export class PasswordHashFormatError extends HikyakuError {
  constructor(message: string) {
    super('HIKYAKU_BAD_PASSWORD_HASH', message);
    this.name = 'PasswordHashFormatError';
  }
}

export class PasswordFileError extends HikyakuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HIKYAKU_PASSWORD_FILE', message, options);
    this.name = 'PasswordFileError';
  }
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0;
}

function derive(password: string, salt: Buffer, length: number, params: ScryptParams) {
  // scrypt needs 128 * N * r bytes; Node refuses above maxmem (32 MiB by default).
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r + 1024 * 1024,
  };
  return new Promise<Buffer>((done, fail) => {
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) =>
      err ? fail(err) : done(key),
    );
  });
}

function b64(data: Buffer): string {
  return data.toString('base64').replace(/=+$/, '');
}

/**
 * Hashes a password with a fresh random salt (or the given one, for reproducible tests).
 * `cost` is scrypt's N, a power of two; the default suits an interactive login.
 */
export async function hashPassword(
  password: string,
  options: { salt?: Buffer; cost?: number } = {},
): Promise<string> {
  const params: ScryptParams = {
    N: options.cost ?? SCRYPT_DEFAULTS.N,
    r: SCRYPT_DEFAULTS.r,
    p: SCRYPT_DEFAULTS.p,
  };
  if (!isPowerOfTwo(params.N) || params.N > LIMITS.maxN) {
    throw new PasswordHashFormatError(
      `scrypt cost must be a power of two up to ${LIMITS.maxN}, got ${params.N}`,
    );
  }
  const salt = options.salt ?? randomBytes(SCRYPT_DEFAULTS.saltBytes);
  const hash = await derive(password, salt, SCRYPT_DEFAULTS.hashBytes, params);
  return `$scrypt$N=${params.N},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

/** Reads a hash string; throws PasswordHashFormatError naming what is wrong. */
export function parsePasswordHash(text: string): ParsedHash {
  const parts = text.split('$');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'scrypt') {
    throw new PasswordHashFormatError('not a $scrypt$ password hash');
  }
  const params: Record<string, number> = {};
  for (const pair of (parts[2] as string).split(',')) {
    const match = /^(N|r|p)=(\d{1,8})$/.exec(pair);
    if (!match) throw new PasswordHashFormatError(`bad scrypt parameter "${pair}"`);
    params[match[1] as string] = Number(match[2]);
  }
  const { N, r, p } = params;
  if (N === undefined || r === undefined || p === undefined) {
    throw new PasswordHashFormatError('scrypt parameters N, r and p are all required');
  }
  if (!isPowerOfTwo(N) || N > LIMITS.maxN || r < 1 || r > LIMITS.maxR || p < 1 || p > LIMITS.maxP) {
    throw new PasswordHashFormatError(`scrypt parameters out of range: N=${N}, r=${r}, p=${p}`);
  }
  const base64 = /^[A-Za-z0-9+/]+$/;
  if (!base64.test(parts[3] as string) || !base64.test(parts[4] as string)) {
    throw new PasswordHashFormatError('salt and hash must be base64');
  }
  const salt = Buffer.from(parts[3] as string, 'base64');
  const hash = Buffer.from(parts[4] as string, 'base64');
  if (salt.length < 8) throw new PasswordHashFormatError('salt is shorter than 8 bytes');
  if (hash.length < LIMITS.minHashBytes || hash.length > LIMITS.maxHashBytes) {
    throw new PasswordHashFormatError(`hash length ${hash.length} is out of range`);
  }
  return { N, r, p, salt, hash };
}

/**
 * True when the password matches. The comparison takes the same time wherever the bytes
 * differ. A malformed hash throws PasswordHashFormatError: that is a control-plane bug,
 * not a wrong password, and the caller should say so in its log.
 */
export async function verifyPassword(password: string, hashText: string): Promise<boolean> {
  const parsed = parsePasswordHash(hashText);
  const candidate = await derive(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}

/**
 * Local mode: reads each submitter's `passwordFile` (relative to the pool file's folder)
 * and hashes it, giving the `passwordHashes` input of compilePool. The file holds the
 * password alone; one trailing line break is not part of it.
 */
export async function hashPasswordFiles(
  submitters: readonly SubmitterSpec[],
  baseDir: string,
  options: { cost?: number } = {},
): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const submitter of submitters) {
    if (!submitter.passwordFile) continue;
    const path = resolve(baseDir, submitter.passwordFile);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new PasswordFileError(
        `cannot read the password file of submitter "${submitter.username}": ${path}`,
        { cause: err },
      );
    }
    const password = text.replace(/\r?\n$/, '');
    if (password === '') {
      throw new PasswordFileError(
        `the password file of submitter "${submitter.username}" is empty: ${path}`,
      );
    }
    hashes[submitter.username] = await hashPassword(
      password,
      options.cost ? { cost: options.cost } : {},
    );
  }
  return hashes;
}
