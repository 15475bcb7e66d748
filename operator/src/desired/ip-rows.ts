/**
 * The per-IP rows of a pool's status: the pod from the published assignment, the warm-up
 * day, today's cap and today's count from where the scheduler keeps them (Redis), the
 * destinations that take less than declared (what adaptive shaping learned), and a state. The operator's own knowledge wins over the scheduler's state: an IP with no pod
 * is Unassigned, one being drained is Paused, and so is one the reputation guard paused; one
 * whose node cannot run its sender is NodeUnavailable.
 */
import type { CompiledPool, IpStatus } from '@hikyaku/core';
import type { IpReputation } from '@hikyaku/core/policy';
import type { IpState, IpStatusRow } from '../kube/objects.ts';
import { reputationRow } from '../reputation.ts';

/** One IP as the scheduler enforces it (readIpStatus in services/core/src/ip-status.ts). */
export type IpCounters = Pick<
  IpStatus,
  'address' | 'warmupDay' | 'dailyLimit' | 'sentToday' | 'state'
> &
  Partial<Pick<IpStatus, 'throttled'>>;

/** Status rows list at most this many throttled sites per IP (the slowest), to stay small. */
export const MAX_THROTTLED_SITES = 10;

export function buildIpRows(
  compiled: CompiledPool,
  counters: readonly IpCounters[] | undefined,
  reputation: readonly IpReputation[] = [],
): IpStatusRow[] {
  const byAddress = new Map((counters ?? []).map((c) => [c.address, c]));
  const standing = new Map(reputation.map((r) => [r.address, r]));
  return compiled.ips.map((ip) => {
    const c = byAddress.get(ip.address);
    let state: IpState;
    if (!ip.pod) state = 'Unassigned';
    else if (ip.draining) state = 'Paused';
    else if (ip.nodeUnavailable) state = 'NodeUnavailable';
    else if (standing.get(ip.address)?.paused) state = 'Paused';
    else state = c?.state ?? (ip.warmupStartDate ? 'Warming' : 'Active');
    const rep = standing.get(ip.address);
    return {
      address: ip.address,
      ...(ip.pod ? { pod: ip.pod } : {}),
      ...(c && c.warmupDay !== null ? { warmupDay: c.warmupDay } : {}),
      ...(c && c.dailyLimit !== null ? { dailyLimit: c.dailyLimit } : {}),
      ...(c ? { sentToday: c.sentToday } : {}),
      state,
      ...(rep ? { reputation: reputationRow(rep) } : {}),
      ...(c?.throttled?.length
        ? {
            throttled: c.throttled
              .slice(0, MAX_THROTTLED_SITES)
              .map(({ site, state, reason, messagesPerMinute, ceiling, connections }) => ({
                site,
                state,
                reason,
                messagesPerMinute,
                ceiling,
                ...(connections !== undefined ? { connections } : {}),
              })),
          }
        : {}),
    };
  });
}
