/**
 * Which sender pod sends from which IP. The first assignment is core's (consecutive groups
 * of ipsPerPod, see assignIps); after that an IP stays on its pod for as long as it can,
 * because moving an address between pods interrupts its connections and, where addresses
 * are bound to nodes, may not work at all. Pods are StatefulSet ordinals, so the pool's pods
 * are always <pool>-sender-0 .. -(replicas-1):
 *
 * - an IP being drained keeps its pod until it is drained, even above the pod count the
 *   remaining IPs need;
 * - an IP keeps its pod when that pod is below the needed count and not over ipsPerPod;
 * - every other IP takes the lowest pod with room.
 *
 * So adding an IP never moves another, and removing one moves only the IPs of pods that
 * are no longer needed once the drain is over.
 */
import { senderReplicas } from '@hikyaku/core';

export interface AssignmentInput {
  poolName: string;
  /** Addresses to assign, in spec order (IPs that cannot be assigned are left out). */
  addresses: readonly string[];
  /** Addresses being drained; they keep the pod they had. */
  draining: readonly string[];
  ipsPerPod: number;
  /** The published assignment: address -> pod. */
  previous: Readonly<Record<string, string>>;
}

export interface AssignmentPlan {
  /** address -> pod, for assigned and draining addresses. */
  assignment: Record<string, string>;
  /** Pods the StatefulSet must run: the highest used ordinal + 1. */
  replicas: number;
}

export function senderPodName(poolName: string, ordinal: number): string {
  return `${poolName}-sender-${ordinal}`;
}

function ordinalOf(poolName: string, pod: string | undefined): number | undefined {
  const prefix = `${poolName}-sender-`;
  if (!pod?.startsWith(prefix)) return undefined;
  const rest = pod.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

export function planAssignment(input: AssignmentInput): AssignmentPlan {
  const { poolName, ipsPerPod, previous } = input;
  const needed = senderReplicas(input.addresses.length, ipsPerPod);
  const load = new Map<number, number>();
  const assignment: Record<string, string> = {};
  const place = (address: string, ordinal: number) => {
    assignment[address] = senderPodName(poolName, ordinal);
    load.set(ordinal, (load.get(ordinal) ?? 0) + 1);
  };

  for (const address of input.draining) {
    const ordinal = ordinalOf(poolName, previous[address]);
    if (ordinal !== undefined) place(address, ordinal);
  }
  const unplaced: string[] = [];
  for (const address of input.addresses) {
    const ordinal = ordinalOf(poolName, previous[address]);
    if (ordinal !== undefined && ordinal < needed && (load.get(ordinal) ?? 0) < ipsPerPod) {
      place(address, ordinal);
    } else {
      unplaced.push(address);
    }
  }
  let ordinal = 0;
  for (const address of unplaced) {
    while ((load.get(ordinal) ?? 0) >= ipsPerPod) ordinal += 1;
    place(address, ordinal);
  }
  const used = [...load.keys()];
  return { assignment, replicas: used.length === 0 ? 0 : Math.max(...used) + 1 };
}
