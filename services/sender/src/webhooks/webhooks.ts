/**
 * The webhooks of the sender's pool, following the pool's policy: a worker per declared
 * webhook, restarted when its settings change, stopped when it is removed. Every sender
 * pod of the pool runs them; they share each webhook's durable consumer.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { CompiledPool, Logger, NatsHandles, PoolDirectory } from '@hikyaku/core';
import type { Registry } from 'prom-client';
import { createWebhookMetrics } from './metrics.ts';
import { startWebhookWorker, type WebhookWorker } from './worker.ts';

export interface Webhooks {
  /** Names of the webhooks running. */
  running(): string[];
  stop(): Promise<void>;
}

export async function startWebhooks(deps: {
  nats: NatsHandles;
  pools: PoolDirectory;
  pool: string;
  log: Logger;
  registry: Registry;
  caFile: string | undefined;
  timeoutMs: number;
  maxBackoffMs: number;
}): Promise<Webhooks> {
  const { log } = deps;
  const metrics = createWebhookMetrics(deps.registry);
  // Passing `ca` replaces Node's default store, so the extra CA comes on top of it.
  const ca = deps.caFile ? [...rootCertificates, readFileSync(deps.caFile, 'utf8')] : undefined;
  const workers = new Map<string, { settings: string; worker: WebhookWorker }>();
  let stopping = false;

  async function follow(pool: CompiledPool | undefined): Promise<void> {
    if (stopping) return;
    const wanted = new Map((pool?.webhooks ?? []).map((w) => [w.name, w]));
    for (const [name, running] of workers) {
      const next = wanted.get(name);
      if (next && JSON.stringify(next) === running.settings) continue;
      workers.delete(name);
      await running.worker.stop();
    }
    for (const [name, webhook] of wanted) {
      if (workers.has(name) || stopping) continue;
      const worker = await startWebhookWorker({
        nats: deps.nats,
        pool: deps.pool,
        webhook,
        log,
        metrics,
        ...(ca ? { ca } : {}),
        timeoutMs: deps.timeoutMs,
        maxBackoffMs: deps.maxBackoffMs,
      });
      workers.set(name, { settings: JSON.stringify(webhook), worker });
    }
  }

  let chain = follow(deps.pools.get(deps.pool));
  await chain;
  deps.pools.onChange((next, key) => {
    if (key !== deps.pool) return;
    chain = chain
      .then(() => follow(next))
      .catch((err: unknown) => log.error({ err }, 'could not follow the webhooks'));
  });

  return {
    running: () => [...workers.keys()],
    async stop() {
      stopping = true;
      await chain.catch(() => undefined);
      await Promise.all([...workers.values()].map((w) => w.worker.stop()));
      workers.clear();
    },
  };
}
