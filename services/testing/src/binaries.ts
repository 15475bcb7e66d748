import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Finds a program on PATH or in the sbin folders Debian installs servers to. */
export function findBinary(name: string): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
    '/sbin',
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export class MissingBinaryError extends Error {
  readonly code = 'HIKYAKU_MISSING_BINARY';

  constructor(name: string, debianPackage: string) {
    super(
      `${name} was not found on PATH. Install it (Debian/Ubuntu: apt-get install -y ${debianPackage}) ` +
        `or point ${name === 'nats-server' ? 'NATS_URL' : 'REDIS_URL'} at a running server.`,
    );
    this.name = 'MissingBinaryError';
  }
}

export function requireBinary(name: string, debianPackage: string): string {
  const found = findBinary(name);
  if (!found) throw new MissingBinaryError(name, debianPackage);
  return found;
}
