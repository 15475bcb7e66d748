export * from './delivery.ts';
export * from './events.ts';
export * from './messages.ts';
export * from './metrics.ts';
export * from './redis-keys.ts';
export * from './subjects.ts';
export * from './trace.ts';
export * from './webhooks.ts';
