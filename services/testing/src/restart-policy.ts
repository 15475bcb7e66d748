/**
 * When local mode starts a child again after it exited unexpectedly, as Kubernetes
 * restarts a pod: at once the first time, then after a doubling wait up to a ceiling, so a
 * child that cannot start does not spin. A child that ran long enough counts as healthy
 * again and its next failure starts the waits over.
 */
export interface RestartPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** A run this long resets the count of failures. */
  healthyAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  firstDelayMs: 500,
  maxDelayMs: 30_000,
  healthyAfterMs: 60_000,
};

/** The wait before restart number `failures` (1 for the first failure in a row). */
export function restartDelay(failures: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY) {
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.max(0, failures - 1));
}

/** How a child ended, in words for the log. */
export function exitReason(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}

export interface RestartEvent {
  name: string;
  kind: 'exited' | 'restarted' | 'restart-failed';
  reason: string;
  /** Wait before the next try (exited, restart-failed). */
  delayMs?: number;
  pid?: number;
}

/**
 * Watches one child: after each launch, call `watch()` with the new process. An exit that
 * is not the caller's own `stop()` is reported and relaunched after restartDelay().
 */
export function keepRunning(options: {
  name: string;
  relaunch: () => Promise<ChildProcessLike>;
  report: (event: RestartEvent) => void;
  policy?: RestartPolicy;
  now?: () => number;
}) {
  const policy = options.policy ?? DEFAULT_RESTART_POLICY;
  const now = options.now ?? Date.now;
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;

  function schedule(reason: string, kind: RestartEvent['kind']): void {
    failures++;
    const delayMs = restartDelay(failures, policy);
    options.report({ name: options.name, kind, reason, delayMs });
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      options.relaunch().then(
        (child) => {
          if (stopped) return;
          options.report({
            name: options.name,
            kind: 'restarted',
            reason,
            ...(child.pid ? { pid: child.pid } : {}),
          });
          watch(child);
        },
        (err: unknown) => {
          if (!stopped) schedule((err as Error).message, 'restart-failed');
        },
      );
    }, delayMs);
  }

  function watch(child: ChildProcessLike): void {
    const startedAt = now();
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      if (stopped) return;
      if (now() - startedAt >= policy.healthyAfterMs) failures = 0;
      schedule(exitReason(code, signal), 'exited');
    });
  }

  return {
    watch,
    /** No more restarts (the caller is stopping the child). */
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** What keepRunning needs of a child process. */
export interface ChildProcessLike {
  readonly pid?: number | undefined;
  once(
    event: 'exit',
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): unknown;
}
