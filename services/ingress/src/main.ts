import {
  connectRedis,
  type Env,
  openDataPlane,
  runService,
  type ServiceContext,
} from '@hikyaku/core';
import { readIngressConfig } from './config.ts';
import { checkSmtpServerHooks } from './relay-server.ts';
import { startIngress } from './server.ts';

export async function runIngress(
  env: Env,
  options: { handleSignals?: boolean } = {},
): Promise<ServiceContext> {
  const config = readIngressConfig(env);
  checkSmtpServerHooks();
  return runService({
    name: 'ingress',
    config,
    handleSignals: options.handleSignals,
    async start(ctx) {
      // Suppression, quota and AUTH failure lookups must answer within a session's patience:
      // while Redis is unreachable, or a command is not answered in time, the check is
      // skipped (the AUTH throttle counts in the process instead).
      const redis = connectRedis({
        url: config.redisUrl,
        mode: 'lookups',
        timeoutMs: config.redisTimeoutMs,
        log: ctx.log,
        registry: ctx.registry,
      });
      ctx.addReadinessDetail(redis.describe);
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
        await redis.close();
      });
    },
  });
}
