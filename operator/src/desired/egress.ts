/**
 * What each egress mode (spec.egress) adds to a sender slot's pod (slots.ts), and the
 * CiliumEgressGatewayPolicy objects of mode gateway. Pure: the StatefulSet builder applies
 * the shape after the pool's template, so a template cannot undo it.
 *
 * - hostNetwork: the pod joins its node's network and is pinned to the node that holds its
 *   IPs by a required node affinity on metadata.name. Its ops port is a host port then, so
 *   each slot gets its own (host-ports.ts) and declares it, for the scheduler to keep two
 *   pods wanting one port apart.
 * - multus: the pod's IPs are static addresses of a secondary interface, asked for in the
 *   k8s.v1.cni.cncf.io/networks annotation (`ips`).
 * - gateway: the pod carries hikyaku.io/egress-ip, the IP a cluster egress policy must
 *   translate its traffic to.
 */
import { isIP } from 'node:net';
import type { V1Affinity } from '@kubernetes/client-node';
import type { RelayPoolObject } from '../kube/objects.ts';
import { LABELS, MANAGED_BY } from './labels.ts';
import { type Slot, slotStatefulSetName } from './slots.ts';

export const EGRESS_LABELS = {
  /** The slot of a sender pod, part of its StatefulSet's selector. */
  slot: 'hikyaku.io/slot',
  /** Mode gateway: the IP the pod's traffic must leave from (':' written as '-'). */
  egressIp: 'hikyaku.io/egress-ip',
  /** On CiliumEgressGatewayPolicies: the pool's namespace (they are cluster-scoped). */
  poolNamespace: 'hikyaku.io/pool-namespace',
} as const;

export const EGRESS_ANNOTATIONS = {
  /** Mode hostNetwork: the node a slot's pod is pinned to. */
  node: 'hikyaku.io/node',
  /** Multus: the secondary networks of a pod. */
  networks: 'k8s.v1.cni.cncf.io/networks',
} as const;

/** What the egress mode sets on one slot's StatefulSet and pod. */
export interface SlotShape {
  name: string;
  /** Added to the pod labels and the StatefulSet's selector. */
  selectorLabels: Record<string, string>;
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
  statefulSetAnnotations: Record<string, string>;
  hostNetwork: boolean;
  affinity?: V1Affinity;
  /** The ops port; in mode hostNetwork a host port of its node. */
  httpPort?: number;
}

/** A label value naming an IP: IPv6 colons are not allowed in label values. */
export function egressIpLabel(address: string): string {
  return address.replaceAll(':', '-');
}

/** The pod's Multus network selection: one attachment carrying every address of the slot. */
export function multusNetworks(pool: RelayPoolObject, addresses: readonly string[]): string {
  const multus = pool.spec.egress?.multus;
  if (!multus) throw new Error('multusNetworks needs spec.egress.multus');
  const v4 = multus.ipv4PrefixLength ?? 32;
  const v6 = multus.ipv6PrefixLength ?? 128;
  return JSON.stringify([
    {
      name: multus.network,
      namespace: multus.namespace ?? pool.metadata.namespace,
      ...(multus.interface ? { interface: multus.interface } : {}),
      ips: addresses.map((a) => `${a}/${isIP(a) === 6 ? v6 : v4}`),
    },
  ]);
}

export function slotShape(pool: RelayPoolObject, slot: Slot, hostPort?: number): SlotShape {
  const mode = pool.spec.egress?.mode;
  const slotLabel = `s${slot.index}`;
  const shape: SlotShape = {
    name: slotStatefulSetName(pool.metadata.name, slot.index),
    selectorLabels: { [EGRESS_LABELS.slot]: slotLabel },
    podLabels: {},
    podAnnotations: {},
    statefulSetAnnotations: {},
    hostNetwork: mode === 'hostNetwork',
  };
  if (mode === 'hostNetwork') {
    shape.statefulSetAnnotations[EGRESS_ANNOTATIONS.node] = slot.group;
    shape.affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchFields: [{ key: 'metadata.name', operator: 'In', values: [slot.group] }] },
          ],
        },
      },
    };
    if (hostPort !== undefined) shape.httpPort = hostPort;
  } else if (mode === 'multus') {
    shape.podAnnotations[EGRESS_ANNOTATIONS.networks] = multusNetworks(pool, slot.addresses);
  } else if (mode === 'gateway') {
    const [address] = slot.addresses;
    if (address) shape.podLabels[EGRESS_LABELS.egressIp] = egressIpLabel(address);
  }
  return shape;
}

export const CILIUM_POLICY = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumegressgatewaypolicies',
  kind: 'CiliumEgressGatewayPolicy',
} as const;

export interface CiliumEgressGatewayPolicy {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string>; resourceVersion?: string };
  spec: {
    selectors: { podSelector: { matchLabels: Record<string, string> } }[];
    destinationCIDRs: string[];
    egressGateway: { nodeSelector: { matchLabels: Record<string, string> }; egressIP: string };
  };
}

/** Cluster-scoped, so named after the pool's namespace too. */
export function ciliumPolicyName(pool: RelayPoolObject, address: string): string {
  return `hikyaku-${pool.metadata.namespace}-${pool.metadata.name}-${egressIpLabel(address).replaceAll('.', '-')}`;
}

/** The labels every policy of the pool carries: how the operator finds its own. */
export function ciliumPolicyLabels(pool: RelayPoolObject): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.pool]: pool.metadata.name,
    [EGRESS_LABELS.poolNamespace]: pool.metadata.namespace,
  };
}

/**
 * The policies mode gateway with `cilium` asks for: one per IP, translating the traffic of
 * the pod labelled with the IP to that IP on the gateway node. None otherwise.
 */
export function buildCiliumPolicies(pool: RelayPoolObject): CiliumEgressGatewayPolicy[] {
  const egress = pool.spec.egress;
  const cilium = egress?.mode === 'gateway' ? egress.gateway?.cilium : undefined;
  if (!cilium) return [];
  return pool.spec.ips.map((ip) => ({
    apiVersion: `${CILIUM_POLICY.group}/${CILIUM_POLICY.version}`,
    kind: CILIUM_POLICY.kind,
    metadata: { name: ciliumPolicyName(pool, ip.address), labels: ciliumPolicyLabels(pool) },
    spec: {
      selectors: [
        {
          podSelector: {
            matchLabels: {
              'io.kubernetes.pod.namespace': pool.metadata.namespace,
              [LABELS.pool]: pool.metadata.name,
              [EGRESS_LABELS.egressIp]: egressIpLabel(ip.address),
            },
          },
        },
      ],
      destinationCIDRs: cilium.destinationCIDRs ?? ['0.0.0.0/0'],
      egressGateway: {
        nodeSelector: { matchLabels: { ...cilium.nodeSelector } },
        egressIP: ip.address,
      },
    },
  }));
}
