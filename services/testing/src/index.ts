/**
 * What tests and local mode share: child nats-server and redis-server processes on free
 * ports, loopback ports, waiting helpers, a recording SMTP sink, and a test's own servers
 * with a client (startTestNats, startTestRedis).
 */
export * from './binaries.ts';
export * from './child-servers.ts';
export * from './dns-server.ts';
export * from './nats-cluster.ts';
export * from './ports.ts';
export * from './process-running.ts';
export * from './redis-sentinel.ts';
export * from './restart-policy.ts';
export * from './smtp-sink.ts';
export * from './test-servers.ts';
export * from './tied-spawn.ts';
