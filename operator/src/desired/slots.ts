/**
 * Sender slots: in an egress mode (spec.egress) each sender pod is the single pod of a
 * StatefulSet of its own, `<pool>-s<k>`, because what makes it send from its IPs differs
 * from pod to pod: the node it is pinned to (hostNetwork), the static addresses of its
 * secondary interface (multus), the label an egress gateway maps to its IP (gateway). One
 * pod template cannot say that per ordinal.
 *
 * A slot holds up to ipsPerPod IPs of one group: the node that holds them in mode
 * hostNetwork, a single group otherwise. As with the pool-wide StatefulSet
 * (assignment.ts), an IP keeps its slot for as long as it can: a draining IP keeps it until
 * drained, an IP keeps it while the slot's group is still its group and the slot has room,
 * and every other IP takes the lowest slot of its group with room, or a new slot with the
 * lowest free number. Slots are not renumbered, so adding an IP moves no other and removing
 * one moves none.
 */

export interface SlotIp {
  address: string;
  /** The group the IP must share a pod with: its node in mode hostNetwork, '' otherwise. */
  group: string;
}

export interface SlotPlanInput {
  poolName: string;
  /** IPs to assign, in spec order (IPs that cannot be assigned are left out). */
  ips: readonly SlotIp[];
  /** Draining IPs with the group they had; they keep their pod. */
  draining: readonly SlotIp[];
  ipsPerPod: number;
  /** The published assignment: address -> pod. */
  previous: Readonly<Record<string, string>>;
}

export interface Slot {
  /** The slot number k: StatefulSet `<pool>-s<k>`, pod `<pool>-s<k>-0`. */
  index: number;
  group: string;
  /** Its IPs, draining ones first, then in spec order. */
  addresses: string[];
}

export interface SlotPlan {
  /** address -> pod. */
  assignment: Record<string, string>;
  slots: Slot[];
}

export function slotStatefulSetName(poolName: string, index: number): string {
  return `${poolName}-s${index}`;
}

export function slotPodName(poolName: string, index: number): string {
  return `${slotStatefulSetName(poolName, index)}-0`;
}

/** The slot number of a pod of this pool's slots, or undefined. */
export function slotOfPod(poolName: string, pod: string | undefined): number | undefined {
  const match = pod?.startsWith(`${poolName}-s`)
    ? /^(0|[1-9][0-9]{0,2})-0$/.exec(pod.slice(poolName.length + 2))
    : null;
  return match ? Number(match[1]) : undefined;
}

export function planSlots(input: SlotPlanInput): SlotPlan {
  const { poolName, ipsPerPod, previous } = input;
  const slots = new Map<number, Slot>();
  const assignment: Record<string, string> = {};
  const place = (ip: SlotIp, index: number) => {
    const slot = slots.get(index) ?? { index, group: ip.group, addresses: [] };
    slot.addresses.push(ip.address);
    slots.set(index, slot);
    assignment[ip.address] = slotPodName(poolName, index);
  };
  const fits = (index: number, group: string) => {
    const slot = slots.get(index);
    return !slot || (slot.group === group && slot.addresses.length < ipsPerPod);
  };

  for (const ip of input.draining) {
    const index = slotOfPod(poolName, previous[ip.address]);
    if (index !== undefined) place(ip, index);
  }
  const unplaced: SlotIp[] = [];
  for (const ip of input.ips) {
    const index = slotOfPod(poolName, previous[ip.address]);
    if (index !== undefined && fits(index, ip.group)) place(ip, index);
    else unplaced.push(ip);
  }
  for (const ip of unplaced) {
    const sameGroup = [...slots.values()]
      .filter((s) => s.group === ip.group && s.addresses.length < ipsPerPod)
      .sort((a, b) => a.index - b.index)[0];
    let index = sameGroup?.index ?? 0;
    if (!sameGroup) while (slots.has(index)) index += 1;
    place(ip, index);
  }
  return { assignment, slots: [...slots.values()].sort((a, b) => a.index - b.index) };
}
