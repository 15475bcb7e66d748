import { type CommonConfig, type Env, EnvReader, readCommonConfig } from '../../core/src/index.ts';

export interface SchedulerConfig extends Omit<CommonConfig, 'pool'> {
  /** Messages handled at once per consumer (envelopes, queue items, results). */
  concurrency: number;
  streamReplicas: number;
  /** Pending (delayed) queue items the queue consumer may hold; bounds parked mail. */
  maxParked: number;
}

export function readSchedulerConfig(env: Env): Readonly<SchedulerConfig> {
  const r = new EnvReader({ HIKYAKU_POOL: '*', ...env });
  const { pool: _pool, ...common } = readCommonConfig(r, { httpPort: 9102 });
  return r.done({
    ...common,
    concurrency: r.int('HIKYAKU_SCHEDULER_CONCURRENCY', 64, { min: 1, max: 4096 }),
    streamReplicas: r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    maxParked: r.int('HIKYAKU_SCHEDULER_MAX_PARKED', 1_000_000, { min: 1000 }),
  });
}
