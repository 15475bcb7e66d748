/**
 * Ordered shutdown. Steps run in the order they were registered (stop taking work first,
 * then finish or hand back, then drain connections), each bounded by what is left of the
 * grace period, so a pod exits before Kubernetes kills it.
 */
import type { Logger } from './log.ts';

export interface ShutdownStep {
  name: string;
  run: () => Promise<void>;
}

export interface Lifecycle {
  /** Adds a step; steps run in registration order. */
  onShutdown(name: string, run: () => Promise<void>): void;
  /** Runs every step once; later calls return the same promise. */
  shutdown(reason: string): Promise<void>;
  readonly stopping: boolean;
}

export function createLifecycle(options: { log: Logger; graceMs: number }): Lifecycle {
  const steps: ShutdownStep[] = [];
  let done: Promise<void> | undefined;
  let stopping = false;

  async function runAll(reason: string): Promise<void> {
    stopping = true;
    const deadline = Date.now() + options.graceMs;
    options.log.info({ reason }, 'shutting down');
    for (const step of steps) {
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
      });
      try {
        const outcome = await Promise.race([step.run().then(() => 'ok' as const), timeout]);
        if (outcome === 'timeout') {
          options.log.warn({ step: step.name }, 'shutdown step ran out of grace period');
        }
      } catch (err) {
        options.log.error({ err, step: step.name }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    }
    options.log.info('stopped');
  }

  return {
    onShutdown(name, run) {
      steps.push({ name, run });
    },
    shutdown(reason) {
      done ??= runAll(reason);
      return done;
    },
    get stopping() {
      return stopping;
    },
  };
}

/** Wires SIGTERM/SIGINT to the lifecycle and exits when it is done. */
export function exitOnSignals(lifecycle: Lifecycle): void {
  const handler = (signal: NodeJS.Signals): void => {
    lifecycle.shutdown(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}
