import { Redis } from 'ioredis';
import {
  createBodyStore,
  type Env,
  openPoolBucket,
  runService,
  type ServiceContext,
  watchPools,
} from '../../core/src/index.ts';
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
      const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
      const bodies = await createBodyStore({
        js: ctx.nats.js,
        jsm: ctx.nats.jsm,
        replicas: config.streamReplicas,
        maxAgeMs: 8 * 24 * 3600_000,
      });
      const kv = await openPoolBucket(ctx.nats.js, config.streamReplicas);
      const pools = await watchPools(kv, ctx.log);
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
