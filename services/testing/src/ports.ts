import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processRunning } from './process-running.ts';

/** Where Linux says its ephemeral ports are; elsewhere, its default range. */
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';
const DEFAULT_EPHEMERAL_LOW = 32768;
/** The lowest port handed out: below it are the well-known ports of servers (6379, 4222, 9090…). */
const LOWEST_PORT = 10_000;
const ATTEMPTS = 64;

/** Ports this process has handed out, not handed out again while it runs. */
const handedOut = new Set<number>();

/**
 * Where the test processes of this machine mark the ports they hand out. Test files run
 * two at a time, each in a process of its own: a port one of them found free, the other
 * could pick a moment later, and whichever server binds second fails with EADDRINUSE.
 * A mark is a file named after the port, holding the pid of the process that made it.
 */
export const PORT_MARKS_DIR = join(tmpdir(), 'hikyaku-test-ports');
const marked: string[] = [];

/**
 * Marks the port as this process's, unless a running process marked it. A mark left by a
 * process that is gone (killed before its exit handler ran) is taken over. Where no mark can
 * be written at all, the port is handed out as before.
 */
export function markPort(port: number): boolean {
  const file = join(PORT_MARKS_DIR, String(port));
  try {
    mkdirSync(PORT_MARKS_DIR, { recursive: true });
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return true;
    try {
      const owner = Number(readFileSync(file, 'utf8'));
      if (owner === process.pid || processRunning(owner)) return false;
      writeFileSync(file, String(process.pid));
    } catch {
      return false;
    }
  }
  if (marked.length === 0) {
    process.once('exit', () => {
      for (const f of marked) {
        try {
          unlinkSync(f);
        } catch {}
      }
    });
  }
  marked.push(file);
  return true;
}

let ephemeralLowRead: number | undefined;

/** The bottom of the ephemeral range, read once per process. */
function ephemeralLow(): number {
  if (ephemeralLowRead === undefined) {
    try {
      const low = Number(readFileSync(EPHEMERAL_RANGE_FILE, 'utf8').trim().split(/\s+/)[0]);
      ephemeralLowRead = Number.isInteger(low) && low > 0 ? low : DEFAULT_EPHEMERAL_LOW;
    } catch {
      ephemeralLowRead = DEFAULT_EPHEMERAL_LOW;
    }
  }
  return ephemeralLowRead;
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    });
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port that was free a moment ago on the given loopback address, chosen below the
 * kernel's ephemeral range. A port from listen(0) comes from that range, the one outgoing
 * connections take their local ports from: between its being found free and its server
 * binding it, any client connection on the machine could take it (EADDRINUSE). Below the
 * range only another listener can, and a port another test process marked is passed over.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow() - 1;
  if (high - LOWEST_PORT >= 1000) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const port = LOWEST_PORT + Math.floor(Math.random() * (high - LOWEST_PORT + 1));
      if (handedOut.has(port) || !markPort(port)) continue;
      if (await canListen(port, host)) {
        handedOut.add(port);
        return port;
      }
    }
  }
  return ephemeralPort(host);
}

/** A port the kernel picks (listen(0)): where no range below the ephemeral one is left. */
function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until check() returns a truthy value, or fails after timeoutMs naming what. */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${typeof what === 'string' ? what : what()}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await sleep(options.intervalMs ?? 50);
  }
}
