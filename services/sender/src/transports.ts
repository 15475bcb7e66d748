/**
 * Pooled SMTP connections per (source IP, next hop): connections are reused within the
 * rate policy's messages-per-connection and concurrent-connections limits, and every
 * connection is opened from the assigned IP and EHLOs with that IP's hostname.
 */
import {
  createTransport,
  type SMTPPoolOptions,
  type SMTPPoolSentMessageInfo,
  type Transporter,
} from 'nodemailer';

export interface TransportKey {
  ip: string;
  hostname: string;
  host: string;
  port: number;
  maxConnections: number;
  maxMessages: number;
  requireTls: boolean;
}

export interface TransportTimeouts {
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
}

export type PooledTransport = Transporter<SMTPPoolSentMessageInfo>;

export function createTransportCache(timeouts: TransportTimeouts) {
  const cache = new Map<string, PooledTransport>();

  function keyOf(k: TransportKey): string {
    return [k.ip, k.hostname, k.host, k.port, k.maxConnections, k.maxMessages, k.requireTls].join(
      '|',
    );
  }

  return {
    get(k: TransportKey): PooledTransport {
      const key = keyOf(k);
      let transport = cache.get(key);
      if (!transport) {
        const options: SMTPPoolOptions = {
          pool: true,
          host: k.host,
          port: k.port,
          secure: false,
          localAddress: k.ip,
          name: k.hostname,
          maxConnections: k.maxConnections,
          maxMessages: k.maxMessages,
          // MTAs encrypt opportunistically and do not verify: a bad certificate is better
          // than plain text, unless the policy requires TLS.
          requireTLS: k.requireTls,
          tls: { rejectUnauthorized: false },
          connectionTimeout: timeouts.connectTimeoutMs,
          greetingTimeout: timeouts.greetingTimeoutMs,
          socketTimeout: timeouts.socketTimeoutMs,
          logger: false,
        };
        transport = createTransport(options);
        cache.set(key, transport);
      }
      return transport;
    },
    closeAll(): void {
      for (const transport of cache.values()) transport.close();
      cache.clear();
    },
  };
}

export type TransportCache = ReturnType<typeof createTransportCache>;
