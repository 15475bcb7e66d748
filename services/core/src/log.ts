import { type Logger, pino } from 'pino';

export type { Logger };

/** JSON logs on stdout; the level comes from configuration, never from the environment here. */
export function createLogger(options: { name: string; level?: string }): Logger {
  return pino({
    name: options.name,
    level: options.level ?? 'info',
    base: { component: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
