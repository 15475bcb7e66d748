import {
  connectRedis,
  type Env,
  openDataPlane,
  runService,
  type ServiceContext,
} from '@hikyaku/core';
import type { Clock } from './clock.ts';
import { readSchedulerConfig } from './config.ts';
import { startScheduler } from './scheduler.ts';

export async function runScheduler(
  env: Env,
  options: { handleSignals?: boolean; clock?: Clock; rng?: () => number } = {},
): Promise<ServiceContext> {
  const config = readSchedulerConfig(env);
  return runService({
    name: 'scheduler',
    config,
    handleSignals: options.handleSignals,
    async start(ctx) {
      // Counters and lanes must not be skipped: commands wait for Redis to be back, and the
      // outage shows in /readyz and hikyaku_redis_up rather than in a log line per retry.
      const link = connectRedis({
        url: config.redisUrl,
        mode: 'work',
        log: ctx.log,
        registry: ctx.registry,
      });
      ctx.addReadinessDetail(link.describe);
      const redis = link.client;
      const { bodies, pools } = await openDataPlane(ctx, config.streamReplicas);
      const scheduler = await startScheduler({
        config,
        nats: ctx.nats,
        redis,
        pools,
        bodies,
        log: ctx.log,
        registry: ctx.registry,
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.rng ? { rng: options.rng } : {}),
      });
      ctx.lifecycle.onShutdown('stop consumers', () => scheduler.stop());
      ctx.lifecycle.onShutdown('stop pool watch', async () => pools.stop());
      ctx.lifecycle.onShutdown('close redis', async () => {
        await link.close();
      });
    },
  });
}
