import {
  createBodyStore,
  type Env,
  openPoolBucket,
  runService,
  type ServiceContext,
  watchPools,
} from '../../core/src/index.ts';
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
      const bodies = await createBodyStore({
        js: ctx.nats.js,
        jsm: ctx.nats.jsm,
        replicas: config.streamReplicas,
        maxAgeMs: 8 * 24 * 3600_000,
      });
      const kv = await openPoolBucket(ctx.nats.js, config.streamReplicas);
      const pools = await watchPools(kv, ctx.log);
      const ingress = await startIngress({
        config,
        nats: ctx.nats,
        bodies,
        pools,
        log: ctx.log,
        registry: ctx.registry,
      });
      ctx.lifecycle.onShutdown('close smtp listener', () => ingress.close());
      ctx.lifecycle.onShutdown('stop pool watch', async () => pools.stop());
    },
  });
}
