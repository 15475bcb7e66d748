/**
 * What every benchmark's own stack runs: the pool of two sending IPs whose mail goes to the
 * benchmark's sink, with a rate far above what the machine can do (the benchmark measures
 * the pipeline, not the shaping), and a service log reduced to its errors.
 */
import type { startLocalStack } from '@hikyaku/local';

type StackOptions = Parameters<typeof startLocalStack>[0];

/** The benchmark pool, its mail for example.test routed to the sink at `sinkHost:sinkPort`. */
export function benchPool(sinkHost: string, sinkPort: number): StackOptions['pool'] {
  return {
    apiVersion: 'hikyaku.io/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'bench', namespace: 'local' },
    spec: {
      allowedNetworks: ['127.0.0.0/8'],
      ips: [
        { address: '127.0.0.2', hostname: 'mta1.hikyaku.test' },
        { address: '127.0.0.3', hostname: 'mta2.hikyaku.test' },
      ],
      routes: [{ domains: ['example.test'], host: `${sinkHost}:${sinkPort}` }],
      ratePolicies: [
        {
          name: 'default',
          perIp: { messagesPerMinute: 1_000_000, connections: 20, messagesPerConnection: 1000 },
        },
      ],
    },
  };
}

/** A service's log line passed on only when it is an error (pino levels 50 and 60). */
export function printErrors(name: string, line: string): void {
  if (/"level":(50|60)/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
}
