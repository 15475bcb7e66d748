import {
  type Env,
  openDataPlane,
  openSourceReports,
  runService,
  type ServiceContext,
} from '@hikyaku/core';
import { readSenderConfig } from './config.ts';
import { startSender } from './sender.ts';
import { checkSmtpClientHooks } from './smtp-session.ts';
import { startWebhooks } from './webhooks/webhooks.ts';

/** The part of the grace period jobs in progress may use; the rest is kept for hand-back. */
export function finishWindowMs(graceMs: number): number {
  return Math.max(0, graceMs - Math.min(5000, Math.floor(graceMs / 5)));
}

export async function runSender(
  env: Env,
  options: { handleSignals?: boolean } = {},
): Promise<ServiceContext> {
  const config = readSenderConfig(env);
  checkSmtpClientHooks();
  return runService({
    name: 'sender',
    config,
    handleSignals: options.handleSignals,
    async start(ctx) {
      const { bodies, pools } = await openDataPlane(ctx, config.streamReplicas);
      const sender = await startSender({
        config,
        nats: ctx.nats,
        pools,
        bodies,
        log: ctx.log,
        registry: ctx.registry,
        reports: await openSourceReports(ctx.nats.js, config.streamReplicas),
      });
      // Transactions in progress may run until the grace period is nearly over; the rest of
      // it is left for handing back unfinished jobs and draining NATS.
      const webhooks = await startWebhooks({
        nats: ctx.nats,
        pools,
        pool: config.pool,
        log: ctx.log,
        registry: ctx.registry,
        caFile: config.webhookCaFile,
        timeoutMs: config.webhookTimeoutMs,
        maxBackoffMs: config.webhookMaxBackoffMs,
      });
      ctx.lifecycle.onShutdown('finish jobs', () =>
        sender.stop(Date.now() + finishWindowMs(config.shutdownGraceMs)),
      );
      // A batch in hand is handed back (nak), so another pod sends it without waiting.
      ctx.lifecycle.onShutdown('stop webhooks', () => webhooks.stop());
      ctx.lifecycle.onShutdown('stop pool watch', async () => pools.stop());
    },
  });
}
