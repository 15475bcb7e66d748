/**
 * What tests and local mode share: child nats-server and redis-server processes on free
 * ports, loopback ports, waiting helpers and a recording SMTP sink.
 */
export * from './binaries.ts';
export * from './child-servers.ts';
export * from './dns-server.ts';
export * from './nats-cluster.ts';
export * from './ports.ts';
export * from './redis-sentinel.ts';
export * from './restart-policy.ts';
export * from './smtp-sink.ts';
export * from './tied-spawn.ts';
