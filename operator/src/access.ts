/**
 * Every Kubernetes API access the operator makes, as RBAC rules. This table is the truth:
 * the operator's client refuses a call it does not list (AccessNotDeclaredError), the tests
 * check that every request the operator sent to the API stand-in maps onto it, and the
 * Helm chart renders the operator's Role and ClusterRole from it.
 *
 * Scope `watched` is the namespace in HIKYAKU_WATCH_NAMESPACE (a Role there), or every
 * namespace when it is empty (a ClusterRole). Scope `lease` is the namespace of the
 * leader-election Lease (a Role there). Scope `cluster` is for cluster-scoped resources
 * (a ClusterRole whatever is watched).
 */
import { AccessNotDeclaredError } from './errors.ts';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface AccessRule {
  /** API group; '' is the core group. */
  group: string;
  /** Resource, or resource/subresource. */
  resource: string;
  verbs: readonly Verb[];
  scope: 'watched' | 'lease' | 'cluster';
  why: string;
}

export const ACCESS: readonly AccessRule[] = Object.freeze([
  {
    group: 'hikyaku.io',
    resource: 'relaypools',
    verbs: ['list', 'watch', 'patch', 'delete'],
    scope: 'watched',
    why: "follow RelayPools; add and remove the finalizer; delete them before helm uninstall (hikyaku remove-pools, the chart's pre-delete hook)",
  },
  {
    group: 'hikyaku.io',
    resource: 'relaypools/status',
    verbs: ['patch'],
    scope: 'watched',
    why: 'write observedGeneration, conditions and per-IP rows',
  },
  {
    group: 'hikyaku.io',
    resource: 'relaypools/finalizers',
    verbs: ['update'],
    scope: 'watched',
    why: 'owner references with blockOwnerDeletion on the sender StatefulSets (needed where OwnerReferencesPermissionEnforcement is on)',
  },
  {
    group: 'apps',
    resource: 'statefulsets',
    verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
    scope: 'watched',
    why: 'the sender StatefulSets of each pool, and their readiness (get: whose is a name already taken; delete: a sender slot no longer needed, or the pool-wide StatefulSet when a pool takes an egress mode)',
  },
  {
    group: '',
    resource: 'nodes',
    verbs: ['list', 'watch'],
    scope: 'cluster',
    why: "egress mode hostNetwork: whether the nodes holding a pool's IPs can run its senders (gone, cordoned, not Ready)",
  },
  {
    group: 'cilium.io',
    resource: 'ciliumegressgatewaypolicies',
    verbs: ['list', 'create', 'update', 'delete'],
    scope: 'cluster',
    why: 'egress mode gateway with cilium: one CiliumEgressGatewayPolicy per IP, removed with the pool (cluster-scoped, so not garbage-collected with it)',
  },
  {
    group: '',
    resource: 'secrets',
    verbs: ['list', 'watch', 'create', 'update'],
    scope: 'watched',
    why: 'read the Secrets pools name (submitter passwords, published only as salted hashes, and DKIM keys), each listed and watched by its name alone; keep each pool its sender connection Secret, watched by its labels',
  },
  {
    group: 'events.k8s.io',
    resource: 'events',
    verbs: ['create'],
    scope: 'watched',
    why: 'Events on RelayPools for what a human should see',
  },
  {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verbs: ['get', 'create', 'update'],
    scope: 'lease',
    why: 'leader election: one replica writes at a time',
  },
] satisfies AccessRule[]);

export function isDeclared(group: string, resource: string, verb: Verb): boolean {
  return ACCESS.some((r) => r.group === group && r.resource === resource && r.verbs.includes(verb));
}

/** Throws unless the table declares the access; the client calls it before every request. */
export function requireAccess(group: string, resource: string, verb: Verb): void {
  if (!isDeclared(group, resource, verb)) {
    throw new AccessNotDeclaredError(
      `the operator's access table does not declare ${verb} on ${group || 'core'}/${resource}`,
    );
  }
}

export interface RequestAccess {
  group: string;
  resource: string;
  verb: Verb | 'deletecollection';
  namespace: string | undefined;
}

/**
 * The RBAC access an HTTP request to the API needs, as the API server's authorizer sees
 * it; undefined for discovery and health paths, which every client may read.
 */
export function requestAccess(
  method: string,
  path: string,
  watch: boolean,
): RequestAccess | undefined {
  const parts = path.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length > 2) [group, rest] = ['', parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length > 3) [group, rest] = [parts[1]!, parts.slice(3)];
  else return undefined;
  let isWatch = watch;
  if (rest[0] === 'watch') [isWatch, rest] = [true, rest.slice(1)];
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) [namespace, rest] = [rest[1], rest.slice(2)];
  const [plural, name, sub] = rest;
  if (!plural) return undefined;
  const resource = sub ? `${plural}/${sub}` : plural;
  const verbs: Record<string, Verb | 'deletecollection'> = {
    POST: 'create',
    PUT: 'update',
    PATCH: 'patch',
    DELETE: name ? 'delete' : 'deletecollection',
  };
  let verb = verbs[method.toUpperCase()];
  if (method.toUpperCase() === 'GET') verb = name ? 'get' : isWatch ? 'watch' : 'list';
  if (!verb) return undefined;
  return { group, resource, verb, namespace };
}
