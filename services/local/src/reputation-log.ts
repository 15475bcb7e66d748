/**
 * Local mode's view of the reputation guard: one line each time an IP of the pool is
 * paused, resumed, found on a blocklist or failing reverse DNS, read from the NATS KV
 * bucket the scheduler writes, so a newcomer sees why one IP stopped sending without
 * reading the services' logs (`hikyaku reputation list` shows the same on demand).
 */
import { connectNats, openReputationStore } from '@hikyaku/core';
import { type IpReputation, reputationCondition } from '@hikyaku/core/policy';

/** The line for a change of one IP's standing, or undefined when nothing a human needs changed. */
export function reputationLine(
  before: IpReputation | undefined,
  after: IpReputation,
): string | undefined {
  const was = reputationCondition(before);
  const now = reputationCondition(after);
  if (now === 'Paused' && was !== 'Paused') {
    return `reputation: ${after.address} paused (${after.paused?.detail ?? after.paused?.reason}); mail goes out from the pool's other IPs`;
  }
  if (was === 'Paused' && now !== 'Paused') return `reputation: ${after.address} resumed`;
  const newZones = after.listings.filter((l) => !before?.listings.some((b) => b.zone === l.zone));
  if (newZones.length > 0) {
    return `reputation: ${after.address} listed on ${newZones.map((l) => `${l.zone} (${l.meaning})`).join(', ')}`;
  }
  if (now === 'PtrMismatch' && was !== 'PtrMismatch') {
    return `reputation: ${after.address} reverse DNS mismatch: ${after.ptr?.detail}`;
  }
  return undefined;
}

export async function watchReputation(options: {
  natsUrl: string;
  pool: string;
  print: (line: string) => void;
}): Promise<{ stop(): Promise<void> }> {
  const nats = await connectNats({ url: options.natsUrl, name: 'local-reputation' });
  const store = await openReputationStore(nats.js);
  const last = new Map<string, IpReputation>();
  const stop = await store.watch(
    (entry) => {
      if ('removed' in entry || entry.pool !== options.pool) return;
      const line = reputationLine(last.get(entry.state.address), entry.state);
      last.set(entry.state.address, entry.state);
      if (line) options.print(line);
    },
    (err) =>
      options.print(
        `reputation: no longer following the IPs' standing (${(err as Error).message})`,
      ),
  );
  return {
    async stop() {
      stop();
      await nats.nc.close();
    },
  };
}
