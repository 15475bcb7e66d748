import { type Env, openDataPlane, runService, type ServiceContext } from '@hikyaku/core';
import { Redis } from 'ioredis';
import { readIngressConfig } from './config.ts';
import { startIngress } from './server.ts';

export async function runIngress(
  env: Env,
  options: { handleSignals?: boolean } = {},
): Promise<ServiceContext> {
  const config = readIngressConfig(env);
  return runService({
    name: 'ingress',
    config,
    handleSignals: options.handleSignals,
    async start(ctx) {
      // Suppression, quota and AUTH failure lookups must answer within a session's patience:
      // a command that cannot be sent or answered in time fails, and the check is skipped
      // (the AUTH throttle counts in the process instead).
      const redis = new Redis(config.redisUrl, {
        maxRetriesPerRequest: 1,
        commandTimeout: config.redisTimeoutMs,
        // Lookups of concurrent sessions share one write per event-loop turn.
        enableAutoPipelining: true,
      });
      redis.on('error', (err) => ctx.log.debug({ err }, 'redis connection error'));
      const { bodies, pools } = await openDataPlane(ctx, config.streamReplicas);
      const ingress = await startIngress({
        config,
        nats: ctx.nats,
        bodies,
        pools,
        redis,
        log: ctx.log,
        registry: ctx.registry,
      });
      // Runs before NATS is drained (runService adds that step after these).
      ctx.lifecycle.onShutdown('close smtp listeners', () => ingress.close());
      ctx.lifecycle.onShutdown('stop pool watch', async () => pools.stop());
      ctx.lifecycle.onShutdown('close redis', async () => {
        redis.disconnect();
      });
    },
  });
}
