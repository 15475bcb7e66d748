/** The webhook metrics. Labels: pool, webhook (a name from the pool spec) and failure reason. */
import { METRICS } from '@hikyaku/core';
import { Counter, Gauge, type Registry } from 'prom-client';

export function createWebhookMetrics(registry: Registry) {
  const registers = [registry];
  const labelNames = ['pool', 'webhook'] as const;
  return {
    batches: new Counter({
      name: METRICS.webhookBatches,
      help: 'Webhook batches the endpoint took (answered 2xx)',
      labelNames,
      registers,
    }),
    events: new Counter({
      name: METRICS.webhookEvents,
      help: 'Events in webhook batches the endpoint took',
      labelNames,
      registers,
    }),
    failures: new Counter({
      name: METRICS.webhookFailures,
      help: 'Webhook POSTs that failed, by reason (http_4xx, http_5xx, http_other, timeout, tls, connection, secret)',
      labelNames: [...labelNames, 'reason'],
      registers,
    }),
    dropped: new Counter({
      name: METRICS.webhookDropped,
      help: 'Events given up after the webhook maximum age without being delivered',
      labelNames,
      registers,
    }),
    backlog: new Gauge({
      name: METRICS.webhookBacklog,
      help: 'Events waiting for the webhook: not yet sent, or sent and not yet taken',
      labelNames,
      registers,
    }),
    oldestAge: new Gauge({
      name: METRICS.webhookOldestAge,
      help: 'Age of the oldest event of the batch being delivered (0 when none is in hand)',
      labelNames,
      registers,
    }),
  };
}

export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;
