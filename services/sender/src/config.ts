import { type CommonConfig, type Env, EnvReader, readCommonConfig } from '../../core/src/index.ts';

export interface SenderConfig extends CommonConfig {
  /** This pod's name: the pool's IP assignment names the pod that owns each IP. */
  podName: string;
  /** Jobs in progress at once for each IP. */
  concurrencyPerIp: number;
  streamReplicas: number;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  /** Inactivity allowed during a command or DATA before the attempt is abandoned. */
  socketTimeoutMs: number;
}

export function readSenderConfig(env: Env): Readonly<SenderConfig> {
  const r = new EnvReader(env);
  const common = readCommonConfig(r, { httpPort: 9103 });
  return r.done({
    ...common,
    podName: r.required('HIKYAKU_POD_NAME'),
    concurrencyPerIp: r.int('HIKYAKU_SENDER_CONCURRENCY', 32, { min: 1, max: 1024 }),
    streamReplicas: r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    connectTimeoutMs: r.int('HIKYAKU_CONNECT_TIMEOUT_MS', 30_000, { min: 100 }),
    greetingTimeoutMs: r.int('HIKYAKU_GREETING_TIMEOUT_MS', 300_000, { min: 100 }),
    socketTimeoutMs: r.int('HIKYAKU_DATA_TIMEOUT_MS', 600_000, { min: 100 }),
  });
}
