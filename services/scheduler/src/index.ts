/** The scheduler's public surface: run it, drive its clock in tests, its command lines. */

export * from './body-purge.ts';
export * from './cli/common.ts';
export * from './cli/holds.ts';
export * from './cli/queue.ts';
export * from './cli/reputation.ts';
export * from './cli/shaping.ts';
export * from './cli/status.ts';
export * from './cli/suppressions.ts';
export * from './cli/trace.ts';
export * from './cli/wire-version.ts';
export * from './clock.ts';
export { BODY_REMOVALS, type BodyRemoval, bodyRemovalFor } from './config.ts';
export * from './destinations.ts';
export * from './events.ts';
export * from './main.ts';
export * from './mx-hosts.ts';
export * from './redis-batch.ts';
export * from './reputation/dns-checks.ts';
export * from './tracker.ts';
