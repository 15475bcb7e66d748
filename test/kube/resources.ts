/**
 * The resource types the stand-in serves: the built-in ones the operator touches, plus one
 * entry per served version of every loaded CustomResourceDefinition. Objects of one
 * resource share storage across versions (`storageKey`), as with a CRD whose conversion
 * strategy is `None`: only `apiVersion` differs between versions.
 */
import type { ObjectValidator } from './validation.ts';

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  statusSubresource: boolean;
  /** PUT of a missing object creates it (leases and events do, most others do not). */
  allowCreateOnUpdate: boolean;
  shortNames: string[];
  /** Present for custom resources: schema, defaults, pruning and CEL rules. */
  validator?: ObjectValidator;
  custom: boolean;
}

export function storageKey(t: Pick<ResourceType, 'group' | 'plural'>): string {
  return t.group ? `${t.plural}.${t.group}` : t.plural;
}

export function apiVersionOf(t: Pick<ResourceType, 'group' | 'version'>): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

interface BuiltinSpec {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced?: boolean;
  status?: boolean;
  createOnUpdate?: boolean;
  shortNames?: string[];
}

const BUILTINS: BuiltinSpec[] = [
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', shortNames: ['cm'] },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', status: true },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount' },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', status: true },
  { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false, status: true },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', createOnUpdate: true },
  { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', status: true },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', status: true },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    plural: 'leases',
    kind: 'Lease',
    createOnUpdate: true,
  },
  { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', createOnUpdate: true },
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    namespaced: false,
    status: true,
    shortNames: ['crd', 'crds'],
  },
];

/** Looks resource types up by URL parts, by kubectl-style name and by apiVersion + kind. */
export class ResourceRegistry {
  private readonly byUrl = new Map<string, ResourceType>();
  private readonly byCrd = new Map<string, ResourceType[]>();

  constructor() {
    for (const b of BUILTINS) {
      this.add({
        group: b.group,
        version: b.version,
        plural: b.plural,
        singular: b.kind.toLowerCase(),
        kind: b.kind,
        namespaced: b.namespaced ?? true,
        statusSubresource: b.status ?? false,
        allowCreateOnUpdate: b.createOnUpdate ?? false,
        shortNames: b.shortNames ?? [],
        custom: false,
      });
    }
  }

  private add(t: ResourceType): void {
    this.byUrl.set(`${apiVersionOf(t)}/${t.plural}`, t);
  }

  /** Installs (or replaces) the versions a CRD serves; `crdName` is `<plural>.<group>`. */
  setCustom(crdName: string, types: ResourceType[]): void {
    this.removeCustom(crdName);
    for (const t of types) this.add(t);
    this.byCrd.set(crdName, types);
  }

  removeCustom(crdName: string): void {
    for (const t of this.byCrd.get(crdName) ?? []) {
      this.byUrl.delete(`${apiVersionOf(t)}/${t.plural}`);
    }
    this.byCrd.delete(crdName);
  }

  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byUrl.get(`${group ? `${group}/` : ''}${version}/${plural}`);
  }

  byApiVersionKind(apiVersion: string, kind: string): ResourceType | undefined {
    for (const t of this.byUrl.values()) {
      if (apiVersionOf(t) === apiVersion && t.kind === kind) return t;
    }
    return undefined;
  }

  /**
   * `secrets`, `statefulsets.apps`, `relaypools.hikyaku.io`, or a short name/kind; the
   * preferred (first listed) version wins when a group serves several.
   */
  byName(name: string): ResourceType | undefined {
    const lower = name.toLowerCase();
    for (const t of this.byUrl.values()) {
      const names = [t.plural, t.singular, t.kind.toLowerCase(), ...t.shortNames];
      const qualified = names.map((n) => (t.group ? `${n}.${t.group}` : n));
      if (qualified.includes(lower) || (!t.group && names.includes(lower))) return t;
    }
    for (const t of this.byUrl.values()) {
      const names = [t.plural, t.singular, t.kind.toLowerCase(), ...t.shortNames];
      if (t.group && names.includes(lower)) return t;
    }
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.byUrl.values()];
  }

  /** Every served version of the same stored resource, for watch fan-out. */
  versionsOf(key: string): ResourceType[] {
    return this.all().filter((t) => storageKey(t) === key);
  }
}

// Discovery documents: enough for kubectl-style clients to map kinds to paths.

export function apiVersionsDoc(): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
}

function groupVersions(reg: ResourceRegistry): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const t of reg.all()) {
    if (!t.group) continue;
    const versions = groups.get(t.group) ?? [];
    if (!versions.includes(t.version)) versions.push(t.version);
    groups.set(t.group, versions);
  }
  return groups;
}

function groupDoc(group: string, versions: string[]): object {
  const list = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: list, preferredVersion: list[0] };
}

export function apiGroupListDoc(reg: ResourceRegistry): object {
  const groups = [...groupVersions(reg)].map(([g, v]) => groupDoc(g, v));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroupDoc(reg: ResourceRegistry, group: string): object | undefined {
  const versions = groupVersions(reg).get(group);
  return versions
    ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(group, versions) }
    : undefined;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiResourceListDoc(
  reg: ResourceRegistry,
  group: string,
  version: string,
): object | undefined {
  const types = reg.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const resources: object[] = [];
  for (const t of types) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: VERBS,
      shortNames: t.shortNames,
    });
    if (t.statusSubresource) {
      resources.push({
        name: `${t.plural}/status`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

export function versionDoc(): object {
  return {
    major: '1',
    minor: '31',
    gitVersion: 'v1.31.0-hikyaku-standin',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.22.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
