import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry per service instance (no global state), with Node's process metrics. */
export function createRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: 'hikyaku_' });
  return registry;
}
