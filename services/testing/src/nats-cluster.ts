/**
 * A JetStream cluster of nats-servers on one host, for tests of replicated streams: each
 * node has its own ports and data folder, and can be killed and restarted on its own.
 */
import { join } from 'node:path';
import { type ChildServer, startNatsServer } from './child-servers.ts';
import { freePort } from './ports.ts';

export interface NatsClusterNode extends ChildServer {
  readonly name: string;
  /**
   * Whether the node answers its /healthz with 200: it runs, has a metadata leader, and
   * every stream and consumer replica it holds has caught up. A rolling restart waits for
   * this before it takes the next node down, as the NATS chart's startup probe does.
   */
  healthy(): Promise<boolean>;
}

export interface NatsCluster {
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  readonly url: string;
  readonly nodes: readonly NatsClusterNode[];
  stop(): Promise<void>;
}

/**
 * A JetStream cluster of `size` nats-servers on one host (each with its own ports and data
 * folder), for tests of replicated streams: nodes can be killed and restarted one by one.
 */
export async function startNatsCluster(options: {
  size: number;
  dataDir: string;
  host?: string;
  /** Ports to use (client and cluster port per node); free ones by default. */
  ports?: { client: number; cluster: number; monitor?: number }[];
  log?: (node: string, line: string) => void;
}): Promise<NatsCluster> {
  const host = options.host ?? '127.0.0.1';
  const ports =
    options.ports ??
    (await Promise.all(
      Array.from({ length: options.size }, async () => ({
        client: await freePort(host),
        cluster: await freePort(host),
        monitor: await freePort(host),
      })),
    ));
  const routes = ports.map((p) => `nats://${host}:${p.cluster}`);
  const started = await Promise.allSettled(
    ports.map(async (p, i) => {
      const name = `n${i + 1}`;
      const server = await startNatsServer({
        port: p.client,
        host,
        dataDir: join(options.dataDir, name),
        cluster: { name: 'hikyaku', serverName: name, port: p.cluster, routes },
        ...(p.monitor ? { monitorPort: p.monitor } : {}),
        ...(options.log ? { log: (line: string) => options.log?.(name, line) } : {}),
      });
      const healthy = async (): Promise<boolean> => {
        if (!p.monitor) throw new Error(`node ${name} has no monitoring port`);
        try {
          const res = await fetch(`http://${host}:${p.monitor}/healthz`, {
            signal: AbortSignal.timeout(5000),
          });
          await res.body?.cancel();
          return res.ok;
        } catch {
          return false;
        }
      };
      return Object.assign(server, { name, healthy });
    }),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    // The nodes that did start must not outlive the failure (nor keep the caller alive).
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  try {
    if (ports.every((p) => p.monitor)) await untilHealthy(nodes);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    url: nodes.map((n) => n.url).join(','),
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/**
 * Waits until every node answers /healthz with 200 (it has a metadata leader), failing
 * early with a clear reason when a node has exited: a server listens for clients before
 * it opens its cluster port, so one that could not open it (taken meanwhile) dies only
 * after it looked started, and the others then wait for it.
 */
async function untilHealthy(nodes: readonly NatsClusterNode[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = nodes.find((n) => n.process.exitCode !== null || n.process.signalCode !== null);
    if (gone) throw new Error(`nats-server ${gone.name} exited at start (see its log)`);
    const health = await Promise.all(nodes.map((n) => n.healthy()));
    if (health.every(Boolean)) return;
    if (Date.now() > deadline) {
      const sick = nodes.filter((_, i) => !health[i]).map((n) => n.name);
      throw new Error(
        `no JetStream metadata leader within ${timeoutMs} ms: ${sick.join(', ')} not healthy`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
