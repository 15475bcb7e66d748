/**
 * `hikyaku operator`: the operator as a process. Configuration from the environment
 * (config.ts), the Kubernetes client from KUBECONFIG or, without it, the pod's service
 * account; NATS, the ops HTTP port and an ordered shutdown from the shared service life
 * (services/core/src/service.ts), in which the operator stops reconciling and hands the
 * Lease over before NATS is drained.
 */

import type { Env } from '@hikyaku/core';
import { readIpStatus, runService, type ServiceContext } from '@hikyaku/core';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { readOperatorConfig } from './config.ts';
import { createOperator } from './operator.ts';

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromCluster();
  return kc;
}

export async function runOperator(
  env: Env,
  options: { handleSignals?: boolean } = {},
): Promise<ServiceContext> {
  const config = readOperatorConfig(env);
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  return runService({
    name: 'operator',
    config,
    handleSignals: options.handleSignals,
    async start(ctx) {
      const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
      // ioredis reconnects by itself; an unhandled 'error' event would end the process.
      redis.on('error', (err) => ctx.log.warn({ err }, 'redis connection error'));
      const operator = createOperator({
        config,
        kubeConfig,
        nats: ctx.nats,
        ipStatus: (pool, now) => readIpStatus(redis, pool, now),
        registry: ctx.registry,
        log: ctx.log,
      });
      await operator.start();
      ctx.lifecycle.onShutdown('stop operator', () => operator.stop({ release: true }));
      ctx.lifecycle.onShutdown('close redis', async () => {
        await redis.quit();
      });
    },
  });
}
