/**
 * Children that die with their supervisor. Each child is started through a small shell
 * prelude that keeps the read end of a pipe whose write end only the supervisor holds; the
 * shell then becomes the program itself (exec, same pid). When the supervisor exits for
 * any reason, SIGKILL included, the kernel closes the write end, the watcher sees the end
 * of the pipe and sends the child SIGTERM, so it shuts down in order instead of outliving
 * the supervisor. The supervisor ends the pipe itself when it stops a child, which also
 * ends the watcher.
 */
import { type ChildProcess, spawn } from 'node:child_process';

// fd 3 keeps the pipe for the watcher: a background list's stdin is /dev/null in sh.
const PRELUDE =
  'exec 3<&0; (cat <&3 >/dev/null 2>&1; kill -TERM $$ 2>/dev/null) >/dev/null 2>&1 & exec "$0" "$@" </dev/null 3<&-';

export function spawnTied(
  bin: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  const child = spawn('/bin/sh', ['-c', PRELUDE, bin, ...args], {
    ...(options.env ? { env: options.env } : {}),
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C in the terminal reaches the supervisor only, which
    // then stops the children in order (front door first).
    detached: true,
  });
  // A child that is gone closes its end; writing is never done, so this is not an error.
  child.stdin?.on('error', () => undefined);
  return child;
}

/**
 * Ends the tie: the watcher sends the child SIGTERM (if it still runs) and exits. This is
 * how a tied child is stopped; sending SIGTERM as well would be a second one.
 */
export function untie(child: ChildProcess): void {
  child.stdin?.end();
}
