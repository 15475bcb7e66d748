/** The sender's public surface: run it, and the pieces its integration tests drive directly. */
export * from './dkim/mailauth.ts';
export * from './main.ts';
export * from './mta-sts/discovery.ts';
export * from './outcomes.ts';
export * from './routing/dns-cache.ts';
export * from './routing/dns-client.ts';
export * from './smtp-session.ts';
export { ensureWebhookConsumer } from './webhooks/worker.ts';
