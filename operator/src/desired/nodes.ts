/**
 * Whether a node can run the sender pod of the IPs it holds (egress mode hostNetwork): a
 * node that is gone, cordoned or not Ready cannot, and its IPs must not be given jobs
 * until it can, because no other node can send from them.
 */
import type { V1Node } from '@kubernetes/client-node';

/** Why the node cannot run its sender pod, or undefined when it can. */
export function nodeUnavailableReason(name: string, node: V1Node | undefined): string | undefined {
  if (!node) return `node ${name} does not exist`;
  if (node.spec?.unschedulable) return `node ${name} is cordoned`;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready && ready.status !== 'True')
    return `node ${name} is not Ready (${ready.reason ?? ready.status})`;
  return undefined;
}
