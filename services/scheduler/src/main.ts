import { type Env, openDataPlane, runService, type ServiceContext } from '@hikyaku/core';
import { Redis } from 'ioredis';
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
      // Concurrent handlers' commands share one write per event-loop turn.
      const redis = new Redis(config.redisUrl, {
        maxRetriesPerRequest: null,
        lazyConnect: false,
        enableAutoPipelining: true,
      });
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
        await redis.quit();
      });
    },
  });
}
