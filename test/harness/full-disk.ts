/**
 * A small tmpfs for JetStream's data, and a stream of its own that fills it: the full-disk
 * tests' set-up. Mounting needs root; without it the tests skip themselves saying so.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsHandles } from '@hikyaku/core';

export interface SmallDisk {
  dir: string;
  /** Why the tmpfs could not be mounted (the test is skipped then), or false. */
  skip: string | false;
  unmount(): void;
}

export function mountSmallDisk(prefix: string, size = '32m'): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const skip = `a tmpfs cannot be mounted here (needs root): ${(err as Error).message.split('\n')[0]}`;
    return { dir, skip, unmount: () => undefined };
  }
  return {
    dir,
    skip: false,
    unmount() {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const FILLER_STREAM = 'TEST_FILLER';

/**
 * Publishes to a stream of its own, in pieces of each size in turn, until JetStream
 * refuses even the last size for want of space.
 */
export async function fillJetStream(
  nats: Pick<NatsHandles, 'js' | 'jsm'>,
  pieceSizes: number[],
): Promise<void> {
  await nats.jsm.streams.add({ name: FILLER_STREAM, subjects: ['test-filler.>'] });
  for (const size of pieceSizes) {
    const chunk = new Uint8Array(size);
    for (;;) {
      try {
        await nats.js.publish('test-filler.x', chunk);
      } catch (err) {
        assert.match(String(err), /insufficient resources/);
        break;
      }
    }
  }
}
