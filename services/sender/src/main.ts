import {
  createBodyStore,
  type Env,
  openPoolBucket,
  runService,
  type ServiceContext,
  watchPools,
} from '../../core/src/index.ts';
import { readSenderConfig } from './config.ts';
import { startSender } from './sender.ts';

export async function runSender(
  env: Env,
  options: { handleSignals?: boolean } = {},
): Promise<ServiceContext> {
  const config = readSenderConfig(env);
  return runService({
    name: 'sender',
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
      const sender = await startSender({
        config,
        nats: ctx.nats,
        pools,
        bodies,
        log: ctx.log,
        registry: ctx.registry,
      });
      ctx.lifecycle.onShutdown('finish jobs', () => sender.stop());
      ctx.lifecycle.onShutdown('stop pool watch', async () => pools.stop());
    },
  });
}
