/**
 * Host ports of hostNetwork sender pods. In the node's network a pod's ops port (metrics
 * and probes) is a port of the node, so two sender pods on one node, of one pool or of
 * several, need different ones. The operator, which sees every pool's slots, gives each
 * hostNetwork slot a port from HIKYAKU_SENDER_HOST_PORTS that no other slot on the same
 * node holds, and keeps it as long as nobody else claims it. Pure: the caller gathers the
 * claims (live StatefulSets and what this leader handed out but its cache does not show
 * yet).
 */

export interface PortRange {
  min: number;
  max: number;
}

export interface HostPortClaim {
  node: string;
  port: number;
  /** `namespace/StatefulSet`. */
  owner: string;
}

/**
 * The port for `owner` on `node`: `current` when it is in the range and nobody else on the
 * node holds it, else the lowest free one; undefined when every port of the range is taken.
 */
export function chooseHostPort(
  node: string,
  owner: string,
  claims: readonly HostPortClaim[],
  range: PortRange,
  current?: number,
): number | undefined {
  const taken = new Set(
    claims.filter((c) => c.node === node && c.owner !== owner).map((c) => c.port),
  );
  if (
    current !== undefined &&
    current >= range.min &&
    current <= range.max &&
    !taken.has(current)
  ) {
    return current;
  }
  for (let port = range.min; port <= range.max; port += 1) if (!taken.has(port)) return port;
  return undefined;
}

/** `9200-9299` or a single port; undefined when it is neither. */
export function parsePortRange(text: string): PortRange | undefined {
  const match = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text.trim());
  if (!match) return undefined;
  const min = Number(match[1]);
  const max = Number(match[2] ?? match[1]);
  if (min < 1 || max > 65535 || min > max) return undefined;
  return { min, max };
}
