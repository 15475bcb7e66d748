import { type CommonConfig, type Env, EnvReader, readCommonConfig } from '../../core/src/index.ts';

export interface IngressConfig extends Omit<CommonConfig, 'pool'> {
  smtpHost: string;
  smtpPort: number;
  hostname: string;
  maxClients: number;
  socketTimeoutMs: number;
  streamReplicas: number;
  /** How long to wait for JetStream to acknowledge before answering 451. */
  storeTimeoutMs: number;
}

export function readIngressConfig(env: Env): Readonly<IngressConfig> {
  const r = new EnvReader({ HIKYAKU_POOL: '*', ...env });
  const { pool: _pool, ...common } = readCommonConfig(r, { httpPort: 9101 });
  return r.done({
    ...common,
    smtpHost: r.string('HIKYAKU_SMTP_HOST', '0.0.0.0'),
    smtpPort: r.int('HIKYAKU_SMTP_PORT', 2525, { min: 0, max: 65535 }),
    hostname: r.string('HIKYAKU_HOSTNAME', 'hikyaku.local'),
    maxClients: r.int('HIKYAKU_MAX_CLIENTS', 1000, { min: 1 }),
    socketTimeoutMs: r.int('HIKYAKU_SOCKET_TIMEOUT_MS', 60_000, { min: 1000 }),
    streamReplicas: r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    storeTimeoutMs: r.int('HIKYAKU_STORE_TIMEOUT_MS', 5000, { min: 100 }),
  });
}
