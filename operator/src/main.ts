/**
 * `hikyaku operator`: the operator as a process. Configuration from the environment
 * (config.ts), the Kubernetes client from KUBECONFIG or, without it, the pod's service
 * account; NATS, the ops HTTP port and an ordered shutdown from the shared service life
 * (services/core/src/service.ts), in which the operator stops reconciling and hands the
 * Lease over before NATS is drained.
 */

import type { Env } from '@hikyaku/core';
import {
  connectRedis,
  createLogger,
  readIpStatus,
  runService,
  type ServiceContext,
} from '@hikyaku/core';
import { KubeConfig } from '@kubernetes/client-node';
import { readOperatorConfig } from './config.ts';
import { createOperator } from './operator.ts';
import { readRemovePoolsConfig, runRemovePools } from './remove-pools.ts';

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
      // A server or a master through Sentinel; one log line per outage, and /readyz says it.
      const link = connectRedis({
        url: config.redisUrl,
        mode: 'lookups',
        log: ctx.log,
        registry: ctx.registry,
      });
      ctx.addReadinessDetail(link.describe);
      const redis = link.client;
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
        await link.close();
      });
    },
  });
}

/** `hikyaku remove-pools`: the exit code (0 when no RelayPool is left). */
export async function removePoolsCommand(env: Env): Promise<number> {
  const config = readRemovePoolsConfig(env);
  const log = createLogger({ name: 'remove-pools', level: config.logLevel });
  return runRemovePools(loadKubeConfig(config.kubeconfig), config, log);
}
