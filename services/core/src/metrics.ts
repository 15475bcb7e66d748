import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * How often Node's event-loop delay is sampled for the `hikyaku_nodejs_eventloop_lag_*`
 * series, in milliseconds. prom-client's default, 10 ms, is a timer that wakes a service
 * 100 times a second whether or not it has work: most of what an idle service spends
 * (docs/performance.md, "An idle relay"). Every 100 ms still gives 150 samples per
 * 15-second scrape.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** A registry per service instance (no global state), with Node's process metrics. */
export function createRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({
    register: registry,
    prefix: 'hikyaku_',
    eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
  });
  return registry;
}
