import { readFileSync } from 'node:fs';
import {
  type CommonConfig,
  type Env,
  EnvReader,
  readCommonConfig,
  readDnsServers,
  readWireVersion,
  type WireVersion,
} from '@hikyaku/core';

export interface SenderConfig extends CommonConfig {
  /** This pod's name: the pool's IP assignment names the pod that owns each IP. */
  podName: string;
  /**
   * Jobs delivered at once for each IP, from reading the body until the outcome is known
   * (waiting for a connection counts); twice as many are held (sender.ts).
   */
  concurrencyPerIp: number;
  /**
   * How long jobs are gathered after the first one arrives before they start together
   * (consume.ts); 0 starts each at once.
   */
  gatherMs: number;
  streamReplicas: number;
  /** DNS servers ("host" or "host:port"); empty: the system's resolvers. */
  dnsServers: string[];
  dnsTimeoutMs: number;
  dnsTries: number;
  /** Port MX hosts and the implicit MX are contacted on (static routes name their own). */
  mxPort: number;
  /** Opening the TCP connection. */
  connectTimeoutMs: number;
  /** Waiting for the greeting, and the EHLO/STARTTLS that follow, from the TCP connect on. */
  greetingTimeoutMs: number;
  /** Waiting for the reply to one command (MAIL, RCPT, DATA, RSET, QUIT). */
  commandTimeoutMs: number;
  /** Inactivity while the message is transferred and until the reply to its final dot. */
  dataTimeoutMs: number;
  /** How long an unused connection stays open for the next message. */
  connectionIdleMs: number;
  /**
   * Pipeline MAIL FROM, the RCPT TOs and DATA when the receiver offers PIPELINING (RFC
   * 2920); off for a receiver that breaks under it.
   */
  smtpPipelining: boolean;
  /** Verify the receiver's certificate (MTAs do not by default: TLS is opportunistic). */
  tlsVerify: boolean;
  /**
   * A PEM bundle of CAs trusted besides Node's default store, for receivers' certificates
   * and MTA-STS policy hosts (a private CA; tests' own).
   */
  tlsCaFile: string | undefined;
  /** Honour recipient domains' MTA-STS policies (RFC 8461). */
  mtaSts: boolean;
  /** Port of MTA-STS policy hosts: 443; tests point it at their own HTTPS server. */
  mtaStsPort: number;
  /** Bounds fetching one policy: resolving, connecting, TLS and the body. */
  mtaStsTimeoutMs: number;
  /** A PEM bundle of CAs trusted besides Node's default store for webhook endpoints. */
  webhookCaFile: string | undefined;
  /** Bounds one webhook POST: connecting, TLS, sending the batch and the reply. */
  webhookTimeoutMs: number;
  /** The longest wait between two tries of a webhook batch (the wait doubles from 1 s). */
  webhookMaxBackoffMs: number;
  /** The wire version results are written in (HIKYAKU_WIRE_VERSION; unset: the relay's). */
  wireVersion?: WireVersion;
  /** How long a result hand-off waits for the scheduler's answer before the stream takes it. */
  resultHandoffTimeoutMs: number;
}

/** The file's certificates, or a problem with it for the configuration error. */
function readCaFile(r: EnvReader, name: string): string | undefined {
  const file = r.string(name);
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    r.problem(`${name}: cannot read ${file}: ${(err as Error).message}`);
    return undefined;
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    r.problem(`${name}: ${file} holds no PEM certificate`);
    return undefined;
  }
  return file;
}

/**
 * The default of HIKYAKU_SENDER_GATHER_MS: off. Beside Postfix with a new connection per
 * message, a sender gathering for 20 ms cost the relay as a whole more CPU per message, not
 * less (docs/performance.md, "The sender's delivery slots and its jobs gathered").
 */
export const DEFAULT_GATHER_MS = 0;

export function readSenderConfig(env: Env): Readonly<SenderConfig> {
  const r = new EnvReader(env);
  const common = readCommonConfig(r, { httpPort: 9103 });
  const dnsServers = readDnsServers(r);
  return r.done({
    ...common,
    podName: r.required('HIKYAKU_POD_NAME'),
    wireVersion: readWireVersion(r),
    concurrencyPerIp: r.int('HIKYAKU_SENDER_CONCURRENCY', 32, { min: 1, max: 1024 }),
    gatherMs: r.int('HIKYAKU_SENDER_GATHER_MS', DEFAULT_GATHER_MS, { min: 0, max: 1000 }),
    streamReplicas: r.int('HIKYAKU_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    dnsServers,
    dnsTimeoutMs: r.int('HIKYAKU_DNS_TIMEOUT_MS', 5000, { min: 50 }),
    dnsTries: r.int('HIKYAKU_DNS_TRIES', 2, { min: 1, max: 10 }),
    mxPort: r.int('HIKYAKU_MX_PORT', 25, { min: 1, max: 65535 }),
    // Postfix's defaults: smtp_connect_timeout, smtp_helo_timeout, smtp_mail_timeout /
    // smtp_rcpt_timeout, smtp_data_done_timeout.
    connectTimeoutMs: r.int('HIKYAKU_CONNECT_TIMEOUT_MS', 30_000, { min: 100 }),
    greetingTimeoutMs: r.int('HIKYAKU_GREETING_TIMEOUT_MS', 300_000, { min: 100 }),
    commandTimeoutMs: r.int('HIKYAKU_COMMAND_TIMEOUT_MS', 300_000, { min: 100 }),
    dataTimeoutMs: r.int('HIKYAKU_DATA_TIMEOUT_MS', 600_000, { min: 100 }),
    connectionIdleMs: r.int('HIKYAKU_CONNECTION_IDLE_MS', 5000, { min: 0 }),
    smtpPipelining: r.oneOf('HIKYAKU_SMTP_PIPELINING', ['on', 'off'], 'on') === 'on',
    tlsVerify: r.bool('HIKYAKU_TLS_VERIFY', false),
    tlsCaFile: readCaFile(r, 'HIKYAKU_TLS_CA_FILE'),
    mtaSts: r.oneOf('HIKYAKU_MTA_STS', ['on', 'off'], 'on') === 'on',
    mtaStsPort: r.int('HIKYAKU_MTA_STS_PORT', 443, { min: 1, max: 65535 }),
    mtaStsTimeoutMs: r.int('HIKYAKU_MTA_STS_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
    resultHandoffTimeoutMs: r.int('HIKYAKU_RESULT_HANDOFF_TIMEOUT_MS', 5000, {
      min: 100,
      max: 60_000,
    }),
    webhookCaFile: readCaFile(r, 'HIKYAKU_WEBHOOK_CA_FILE'),
    webhookTimeoutMs: r.int('HIKYAKU_WEBHOOK_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
    webhookMaxBackoffMs: r.int('HIKYAKU_WEBHOOK_MAX_BACKOFF_MS', 300_000, {
      min: 1000,
      max: 3_600_000,
    }),
  });
}
