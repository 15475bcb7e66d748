/** The ingress's public surface: run it from the environment, or build one in a test. */
export * from './auth-throttle-redis.ts';
export * from './config.ts';
export * from './main.ts';
export * from './metrics.ts';
/** The ingress's SMTP layer alone, for measuring it (bench/smtp-layer.ts). */
export { type ConnectionHooks, RelaySmtpServer } from './relay-server.ts';
export * from './server.ts';
